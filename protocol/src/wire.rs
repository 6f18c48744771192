//! Little-endian primitive readers and writers for the wire formats.
//!
//! A string is a `u32` byte count followed by that many bytes. A count of 0
//! is "absent" (`None`); otherwise the bytes end with the only NUL in them.

use core::ffi::CStr;

/// Why a plan or message could not be decoded. Decoders return these and
/// never panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended before a field did.
    Truncated,
    /// The first bytes are not [`crate::MAGIC`] (plan) or `b"SP"` (message).
    BadMagic,
    /// The sender speaks another protocol version (the value it sent).
    UnsupportedVersion(u16),
    /// The header's kind is not a plan.
    BadKind,
    /// The header's length disagrees with the input, or bytes are left over.
    BadLength,
    /// A string lacks its terminating NUL or has an interior NUL, or a
    /// required string is absent.
    BadString,
    /// A field holds a value this version does not define (flags, kinds, tags).
    BadValue,
}

impl DecodeError {
    /// A short static description, for the stub's one-line errors.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::BadMagic => "bad magic",
            Self::UnsupportedVersion(_) => "unsupported protocol version",
            Self::BadKind => "not a plan",
            Self::BadLength => "bad length",
            Self::BadString => "bad string",
            Self::BadValue => "bad value",
        }
    }
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnsupportedVersion(v) => {
                write!(
                    f,
                    "unsupported protocol version {v} (this build speaks {})",
                    crate::VERSION
                )
            }
            _ => f.write_str(self.as_str()),
        }
    }
}

/// Why a plan could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is shorter than `encoded_len()`.
    BufferTooSmall,
    /// The plan exceeds [`crate::MAX_PLAN_LEN`].
    TooLarge,
    /// The seccomp program's length is not a multiple of 8 bytes.
    BadSeccomp,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::BufferTooSmall => "output buffer too small",
            Self::TooLarge => "plan larger than the protocol's 8 MiB limit",
            Self::BadSeccomp => "seccomp program length is not a multiple of 8",
        })
    }
}

/// A bounds-checked cursor over input bytes.
#[derive(Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    /// Current offset.
    pub fn pos(&self) -> usize {
        self.pos
    }
    /// True when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
    /// The bytes consumed since offset `start`.
    pub fn since(&self, start: usize) -> &'a [u8] {
        self.buf.get(start..self.pos).unwrap_or(&[])
    }
    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    /// Reads a little-endian u16.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian u32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian u64.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    /// Reads an optional string (count 0 = `None`).
    pub fn cstr(&mut self) -> Result<Option<&'a CStr>, DecodeError> {
        let n = self.u32()? as usize;
        if n == 0 {
            return Ok(None);
        }
        let b = self.take(n)?;
        CStr::from_bytes_with_nul(b)
            .map(Some)
            .map_err(|_| DecodeError::BadString)
    }
}

/// A writer into a byte buffer; in counting mode it only measures.
pub struct Writer<'b> {
    buf: Option<&'b mut [u8]>,
    pos: usize,
}

impl<'b> Writer<'b> {
    /// A writer into `buf`, which must be large enough (checked by the caller
    /// with a counting pass; excess writes are dropped, never a panic).
    pub fn new(buf: &'b mut [u8]) -> Self {
        Writer {
            buf: Some(buf),
            pos: 0,
        }
    }
    /// A writer that counts bytes without storing them.
    pub fn counting() -> Self {
        Writer { buf: None, pos: 0 }
    }
    /// Bytes written (or counted) so far.
    pub fn pos(&self) -> usize {
        self.pos
    }
    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        if let (Some(buf), Some(end)) = (self.buf.as_deref_mut(), self.pos.checked_add(b.len()))
            && let Some(dst) = buf.get_mut(self.pos..end)
        {
            dst.copy_from_slice(b);
        }
        self.pos = self.pos.saturating_add(b.len());
    }
    /// Appends a little-endian u16.
    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes())
    }
    /// Appends a little-endian u32.
    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes())
    }
    /// Appends a little-endian u64.
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes())
    }
    /// Appends an optional string with its NUL (count 0 for `None`).
    pub fn cstr(&mut self, s: Option<&CStr>) {
        match s {
            None => self.u32(0),
            Some(s) => {
                let b = s.to_bytes_with_nul();
                self.u32(b.len() as u32);
                self.bytes(b);
            }
        }
    }
    /// Overwrites a u32 at `at` (already written); dropped if out of bounds.
    pub fn patch_u32(&mut self, at: usize, v: u32) {
        if let (Some(buf), Some(end)) = (self.buf.as_deref_mut(), at.checked_add(4))
            && let Some(dst) = buf.get_mut(at..end)
        {
            dst.copy_from_slice(&v.to_le_bytes());
        }
    }
}
