//! The public primitive `Reader` and `Writer`: bounds-checked, never panic.

use sprout_protocol::{DecodeError, Reader, Writer};

#[test]
fn reader_reads_little_endian_and_stops_at_the_end() {
    let buf = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
    let mut r = Reader::new(&buf);
    assert_eq!(r.u16(), Ok(0x0201));
    assert_eq!(r.u32(), Ok(0x0605_0403));
    assert_eq!(r.u64(), Ok(0x0e0d_0c0b_0a09_0807));
    assert_eq!(r.pos(), 14);
    assert!(r.is_empty());
    assert_eq!(r.u16(), Err(DecodeError::Truncated));
    assert_eq!(r.take(1), Err(DecodeError::Truncated));
    assert_eq!(r.take(0), Ok(&[][..]));
    assert_eq!(r.since(10), &buf[10..]);
    assert_eq!(r.since(0), &buf[..]);
    assert_eq!(r.since(15), &[] as &[u8]);
    assert_eq!(r.since(usize::MAX), &[] as &[u8]);
}

#[test]
fn reader_failed_reads_do_not_advance() {
    let buf = [1u8, 2, 3];
    let mut r = Reader::new(&buf);
    assert_eq!(r.u32(), Err(DecodeError::Truncated));
    assert_eq!(r.pos(), 0);
    assert_eq!(r.u64(), Err(DecodeError::Truncated));
    assert_eq!(r.take(usize::MAX), Err(DecodeError::Truncated));
    assert_eq!(r.pos(), 0);
    assert_eq!(r.take(1), Ok(&[1u8][..]));
    // pos + n overflows usize: still just Truncated.
    assert_eq!(r.take(usize::MAX), Err(DecodeError::Truncated));
    assert_eq!(r.u16(), Ok(0x0302));
}

#[test]
fn reader_strings() {
    let mut v = Vec::new();
    v.extend(0u32.to_le_bytes()); // absent
    v.extend(3u32.to_le_bytes());
    v.extend(b"ab\0");
    v.extend(1u32.to_le_bytes());
    v.extend(b"\0");
    v.extend(2u32.to_le_bytes());
    v.extend(b"ab"); // no NUL
    let mut r = Reader::new(&v);
    assert_eq!(r.cstr(), Ok(None));
    assert_eq!(r.cstr(), Ok(Some(c"ab")));
    assert_eq!(r.cstr(), Ok(Some(c"")));
    assert_eq!(r.cstr(), Err(DecodeError::BadString));
    assert_eq!(
        Reader::new(&u32::MAX.to_le_bytes()).cstr(),
        Err(DecodeError::Truncated)
    );
    assert_eq!(Reader::new(&[1, 0]).cstr(), Err(DecodeError::Truncated));
}

#[test]
fn writer_round_trips_with_reader() {
    let mut buf = [0u8; 64];
    let mut w = Writer::new(&mut buf);
    w.u16(0xbeef);
    w.u32(0xdead_beef);
    w.u64(u64::MAX - 1);
    w.cstr(Some(c"hi"));
    w.cstr(None);
    w.bytes(b"xyz");
    let n = w.pos();
    w.patch_u32(2, 7);
    assert_eq!(n, 2 + 4 + 8 + 4 + 3 + 4 + 3);

    let mut c = Writer::counting();
    c.u16(0);
    c.u32(0);
    c.u64(0);
    c.cstr(Some(c"hi"));
    c.cstr(None);
    c.bytes(b"xyz");
    c.patch_u32(0, 1);
    assert_eq!(c.pos(), n);

    let mut r = Reader::new(&buf[..n]);
    assert_eq!(r.u16(), Ok(0xbeef));
    assert_eq!(r.u32(), Ok(7));
    assert_eq!(r.u64(), Ok(u64::MAX - 1));
    assert_eq!(r.cstr(), Ok(Some(c"hi")));
    assert_eq!(r.cstr(), Ok(None));
    assert_eq!(r.take(3), Ok(&b"xyz"[..]));
    assert!(r.is_empty());
}

#[test]
fn writer_drops_excess_writes_without_panicking() {
    let mut buf = [0u8; 6];
    let mut w = Writer::new(&mut buf);
    w.u32(0x0403_0201);
    w.u32(0x0807_0605); // does not fit: dropped whole
    w.u16(0xffff); // past the end
    assert_eq!(w.pos(), 10);
    w.patch_u32(4, 1); // straddles the end
    w.patch_u32(100, 1);
    w.patch_u32(usize::MAX, 1);
    w.patch_u32(usize::MAX - 2, 1);
    let mut far = Writer::new(&mut []);
    far.bytes(&[1, 2, 3]);
    far.patch_u32(0, 9);
    assert_eq!(far.pos(), 3);
    assert_eq!(buf, [1, 2, 3, 4, 0, 0]);
}
