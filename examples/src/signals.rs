//! Graceful stop on SIGINT/SIGTERM for the long-running (TAP) mode, so
//! the pcap file is flushed and the statistics printed when the user
//! presses Ctrl-C or a test script kills the example.

use std::io;
use std::mem::MaybeUninit;

use futures::channel::oneshot;

/// Blocks SIGINT and SIGTERM in the calling thread (and so in every thread
/// it creates afterwards: call this before building the runtime) and
/// starts a thread that waits for them; the receiver completes with the
/// signal number when one arrives.
///
/// Their disposition is reset to the default first: a shell starts
/// background jobs with SIGINT ignored, and an ignored signal is
/// discarded instead of becoming pending for `sigwait`.
pub fn stop_on_signal() -> io::Result<oneshot::Receiver<i32>> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installs the default disposition, no handler code runs.
        if unsafe { libc::signal(sig, libc::SIG_DFL) } == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
    }
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given; sigaddset and
    // pthread_sigmask then read and write that initialised set only.
    let set = unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        let mut set = set.assume_init();
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        set
    };
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("signal-wait".into())
        .spawn(move || {
            let mut sig = 0;
            // SAFETY: `set` is an initialised signal set owned by this
            // closure and `sig` a valid place for the result.
            let rc = unsafe { libc::sigwait(&set, &mut sig) };
            if rc == 0 {
                let _ = tx.send(sig);
            }
        })?;
    Ok(rx)
}
