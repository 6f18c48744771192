//! The freestanding runtime: `_start`, the panic handler, the `mem*`
//! functions LLVM calls, and the `rust_eh_personality` stub.
//!
//! See /work/shared/design/stub-build.md §2: rustc links with `-nostartfiles
//! -static -no-pie` (build.rs), there is no libc and no crt, so the process
//! entry point and these symbols are ours.

use core::ffi::{CStr, c_char};

use super::abi::SYS_EXECVE;
use super::{Args, Errno};

// The kernel enters `_start` with `rsp` pointing at argc, followed by the
// argv pointers, a NULL, the envp pointers and a NULL (System V x86-64 ABI
// §3.4.1). Pass that pointer to `entry` with a 16-byte aligned stack; `ud2`
// traps should `entry` ever return (it is `-> !`).
core::arch::global_asm!(
    ".globl _start",
    ".type _start,@function",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {entry}",
    "ud2",
    entry = sym entry,
);

/// Called from `_start` with the initial stack pointer.
extern "C" fn entry(sp: *const usize) -> ! {
    // SAFETY: `sp` is the initial process stack laid out by the kernel's
    // ELF loader: `argc` then `argc` valid pointers to NUL-terminated strings
    // and a NULL; these stay mapped and unmodified for the process lifetime.
    let args = unsafe {
        Args {
            argc: *sp,
            argv: sp.add(1) as *const *const c_char,
        }
    };
    crate::main(args)
}

impl Args {
    /// Number of arguments (`argc`).
    pub fn len(&self) -> usize {
        self.argc
    }

    /// Argument `i` (`argv[i]`), or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&'static CStr> {
        if i >= self.argc {
            return None;
        }
        // SAFETY: `i < argc`, so `argv[i]` is one of the kernel-provided
        // argument pointers: non-NULL, NUL-terminated, alive for 'static.
        unsafe { Some(CStr::from_ptr(*self.argv.add(i))) }
    }
}

impl Args {
    /// `execve(2)` of `argv[i]` with the arguments after it (`argv[i+1..]`,
    /// still NULL-terminated where the kernel laid them out) and the
    /// inherited environment. Returns only on failure; `EINVAL` when
    /// `argv[i]` or `argv[i+1]` (the new `argv[0]`) is missing.
    pub fn exec_from(&self, i: usize) -> Errno {
        if i + 1 >= self.argc {
            return Errno::INVAL;
        }
        // SAFETY: `i + 1 < argc`: `argv[i]` is a kernel-provided C string,
        // `argv + i + 1` a NULL-terminated pointer array (argv's own tail),
        // and envp starts after argv's NULL (see `env`).
        let r = unsafe {
            super::syscall(
                SYS_EXECVE,
                [
                    *self.argv.add(i) as usize,
                    self.argv.add(i + 1) as usize,
                    self.argv.add(self.argc + 1) as usize,
                    0,
                    0,
                    0,
                ],
            )
        };
        match r {
            Err(e) => e,
            Ok(_) => Errno::INVAL,
        }
    }

    /// The inherited environment (`envp`, after argv's NULL), in order.
    pub fn env(&self) -> impl Iterator<Item = &'static CStr> {
        // SAFETY: the kernel puts envp right after argv's NULL terminator:
        // `argc + 1` pointers past argv, still inside the initial stack.
        let mut p = unsafe { self.argv.add(self.argc + 1) };
        core::iter::from_fn(move || {
            // SAFETY: `p` points into the NULL-terminated envp array, and we
            // never step past its NULL; each entry is a 'static C string.
            unsafe {
                if (*p).is_null() {
                    return None;
                }
                let s = CStr::from_ptr(*p);
                p = p.add(1);
                Some(s)
            }
        })
    }
}

/// Never formats the `PanicInfo` (that would pull in core::fmt); the stub
/// avoids panicking paths, so this is a last resort.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    super::write_stderr(&[b"sprout-init: panic\n"]);
    super::exit(125)
}

/// libcore is precompiled with unwind tables that name this symbol; without
/// LTO the link fails without it (stub-build.md §2). Never called.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

// The mem* functions. `rep movsb`/`rep stosb` are in inline asm, which LLVM
// cannot turn back into a call to memcpy/memset (no recursion).

/// `memcpy(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees `dst`/`src` are valid for `n` bytes and
    // do not overlap; rep movsb copies exactly `n` bytes forward (DF is clear
    // per the ABI).
    unsafe {
        core::arch::asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _,
            inout("rsi") src => _, options(nostack, preserves_flags));
    }
    dst
}

/// `memmove(3)`: forward copy when `dst` is below `src`, else backward.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize).wrapping_sub(src as usize) >= n {
        // dst < src, or the ranges do not overlap: a forward copy is safe.
        // SAFETY: the caller guarantees validity for `n` bytes.
        return unsafe { memcpy(dst, src, n) };
    }
    // SAFETY: the caller guarantees validity for `n` bytes; with DF set, rep
    // movsb copies from the last byte down, which is correct when dst > src
    // overlap; DF is cleared again before returning (ABI requirement).
    unsafe {
        core::arch::asm!("std", "rep movsb", "cld", inout("rcx") n => _,
            inout("rdi") dst.add(n).wrapping_sub(1) => _,
            inout("rsi") src.add(n).wrapping_sub(1) => _, options(nostack));
    }
    dst
}

/// `memset(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees `dst` is valid for `n` bytes.
    unsafe {
        core::arch::asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _,
            in("al") c as u8, options(nostack, preserves_flags));
    }
    dst
}

/// `memcmp(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: the caller guarantees both are valid for `n` bytes; i < n.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return x as i32 - y as i32;
        }
        i += 1;
    }
    0
}

/// `bcmp(3)`: like memcmp, only zero/non-zero matters.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

/// `strlen(3)` (used by `CStr::from_ptr`). `repne scasb` in asm, so LLVM
/// cannot recognise a strlen loop and call us recursively.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let left: usize;
    // SAFETY: the caller guarantees `s` is NUL-terminated; scasb reads up to
    // and including the NUL (DF is clear per the ABI).
    unsafe {
        core::arch::asm!("repne scasb", inout("rdi") s => _, inout("rcx") usize::MAX => left,
            in("al") 0u8, options(nostack, readonly));
    }
    // rcx counted down once per byte scanned, NUL included.
    !left - 1
}
