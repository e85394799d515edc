//! fd readiness through the core's epoll instance.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use netrt::runtime::io::{Interest, Registration};
use netrt::runtime::{Builder, Handle};
use netrt::{current_core, spawn_on};

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(r, 0, "{}", io::Error::last_os_error());
    // SAFETY: both descriptors are fresh and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn write_fd(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[test]
fn a_pipe_written_from_another_thread_wakes_the_reading_task() {
    let rt = Builder::new().cores(2).build().unwrap();
    let handle = rt.handle();
    rt.block_on(async move {
        let (r, w) = pipe();
        let reader = spawn_on(1, async move {
            let reg = Registration::new(r.as_raw_fd(), Interest::READABLE).unwrap();
            assert_eq!(reg.core(), 1);
            let mut got = Vec::new();
            let mut buf = [0u8; 7];
            while got.len() < 3000 {
                let n = reg
                    .read_io(|| read_fd(r.as_raw_fd(), &mut buf))
                    .await
                    .unwrap();
                assert_eq!(current_core(), Some(1));
                got.extend_from_slice(&buf[..n]);
            }
            drop(reg);
            got
        });
        let writer = std::thread::spawn(move || {
            for i in 0..300u32 {
                let chunk = [(i % 251) as u8; 10];
                assert_eq!(write_fd(w.as_raw_fd(), &chunk).unwrap(), 10);
                if i % 50 == 0 {
                    // Let the reader drain and sleep in epoll between bursts.
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        });
        let got = reader.await.unwrap();
        writer.join().unwrap();
        let want: Vec<u8> = (0..300u32).flat_map(|i| [(i % 251) as u8; 10]).collect();
        assert_eq!(got, want);
        let stats = handle.core_stats(1).unwrap();
        assert!(stats.io_events > 0);
    });
}

#[test]
fn readiness_is_cleared_on_would_block_and_eventfd_wakes_the_task() {
    Builder::new().cores(1).build().unwrap().block_on(async {
        // SAFETY: plain syscall; the returned fd is owned below.
        let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        assert!(efd >= 0);
        // SAFETY: fresh descriptor owned by nobody else.
        let efd = unsafe { OwnedFd::from_raw_fd(efd) };
        let reg =
            Registration::new(efd.as_raw_fd(), Interest::READABLE | Interest::WRITABLE).unwrap();
        // Writable at once (counter far from saturation), not readable.
        let w = reg.writable().await.unwrap();
        assert!(w.ready().is_writable());
        let mut buf = [0u8; 8];
        assert_eq!(
            read_fd(efd.as_raw_fd(), &mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let raw = efd.as_raw_fd();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            write_fd(raw, &5u64.to_ne_bytes()).unwrap();
        });
        let ev = reg.readable().await.unwrap();
        assert!(ev.ready().is_readable());
        assert_eq!(read_fd(efd.as_raw_fd(), &mut buf).unwrap(), 8);
        assert_eq!(u64::from_ne_bytes(buf), 5);
        // The counter is drained: the next read would block, so hand the
        // readiness back; `readable` must then wait for a new edge.
        assert_eq!(
            read_fd(efd.as_raw_fd(), &mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        reg.clear_readiness(ev);
        let pending =
            std::future::poll_fn(|cx| std::task::Poll::Ready(reg.poll_read_ready(cx).is_pending()))
                .await;
        assert!(pending, "readiness survived clear_readiness");
        t.join().unwrap();
        drop(reg);
    });
}

#[test]
fn registration_errors_come_from_epoll_ctl_and_drop_deregisters() {
    // Outside a core.
    let (r, _w) = pipe();
    assert_eq!(
        Registration::new(r.as_raw_fd(), Interest::READABLE)
            .unwrap_err()
            .kind(),
        io::ErrorKind::Other
    );
    Builder::new()
        .cores(1)
        .build()
        .unwrap()
        .block_on(async move {
            let reg = Registration::new(r.as_raw_fd(), Interest::READABLE).unwrap();
            // Same fd twice on one epoll: EEXIST.
            let e = Registration::new(r.as_raw_fd(), Interest::READABLE).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
            assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
            drop(reg);
            // Deregistered on drop: registering again works.
            let again = Registration::new(r.as_raw_fd(), Interest::READABLE).unwrap();
            drop(again);
            // A bad descriptor: EBADF.
            let e = Registration::new(-1, Interest::READABLE).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EBADF));
            // A regular file cannot be polled: EPERM.
            let f = std::fs::File::open("/proc/self/exe").unwrap();
            let e = Registration::new(f.as_raw_fd(), Interest::READABLE).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EPERM));
            assert!(Handle::try_current().is_ok());
        });
}

#[test]
fn a_closed_writer_reports_read_closed() {
    Builder::new().cores(1).build().unwrap().block_on(async {
        let (r, w) = pipe();
        let reg = Registration::new(r.as_raw_fd(), Interest::READABLE).unwrap();
        drop(w);
        let ev = reg.readable().await.unwrap();
        assert!(ev.ready().is_read_closed(), "{:?}", ev.ready());
        let mut buf = [0u8; 4];
        assert_eq!(read_fd(r.as_raw_fd(), &mut buf).unwrap(), 0, "EOF");
    });
}
