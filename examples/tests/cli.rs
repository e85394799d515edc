//! The example binaries as a user runs them: help, usage errors, exit
//! statuses, and each demo over the in-process cable (no privileges).

use std::path::PathBuf;
use std::process::{Command, Output};

use netrt::stack::pcap::PcapReader;
use netrt_examples::pattern;

fn run(bin: &str, args: &[&str]) -> Output {
    let exe = match bin {
        "echo" => env!("CARGO_BIN_EXE_echo"),
        "http" => env!("CARGO_BIN_EXE_http"),
        "get" => env!("CARGO_BIN_EXE_get"),
        other => panic!("no binary {other}"),
    };
    Command::new(exe)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {bin}: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh path under the target directory's temp area.
fn temp_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    dir.join(format!("{}-{name}", std::process::id()))
}

#[test]
fn help_exits_zero_and_prints_usage() {
    for (bin, own) in [
        ("echo", "--port N"),
        ("http", "--port N"),
        ("get", "--out FILE"),
    ] {
        for flag in ["--help", "-h"] {
            let o = run(bin, &[flag]);
            assert_eq!(o.status.code(), Some(0), "{bin} {flag}: {}", stderr(&o));
            let out = stdout(&o);
            assert!(out.starts_with(&format!("usage: {bin} ")), "{out}");
            for f in [
                own,
                "--cores N",
                "--pcap FILE",
                "--tap NAME",
                "--addr",
                "--gateway",
                "-v",
            ] {
                assert!(out.contains(f), "{bin} usage lacks {f}: {out}");
            }
        }
    }
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    let cases: &[(&str, &[&str], &str)] = &[
        ("echo", &["--bogus"], "unknown flag --bogus"),
        ("echo", &["--port"], "--port needs a value"),
        ("echo", &["--port", "seven"], "--port: bad value \"seven\""),
        ("http", &["--cores", "0"], "--cores must be 1 to"),
        ("http", &["--tap", "tap0"], "--tap tap0 needs --addr"),
        ("http", &["--addr", "10.0.0.2/24"], "need --tap"),
        (
            "echo",
            &["--tap", "t0", "--addr", "10.0.0.2"],
            "needs a prefix length",
        ),
        ("http", &["stray"], "unexpected argument \"stray\""),
        (
            "get",
            &["https://10.0.0.2/"],
            "only http:// URLs are supported",
        ),
        ("get", &["http://example.com/"], "no DNS"),
        (
            "get",
            &["http://10.9.9.9/"],
            "the demo server is at 10.0.0.2",
        ),
        (
            "get",
            &["--tap", "t0", "--addr", "10.0.0.2/24"],
            "a URL is needed with --tap",
        ),
        (
            "get",
            &["http://10.0.0.2/", "http://10.0.0.2/x"],
            "one URL only",
        ),
    ];
    for (bin, args, msg) in cases {
        let o = run(bin, args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{bin} {args:?}: {err}");
        assert!(err.contains(msg), "{bin} {args:?}: {err:?} lacks {msg:?}");
        assert!(err.contains(&format!("try '{bin} --help'")), "{err}");
        assert!(
            stdout(&o).is_empty(),
            "{bin} {args:?} printed {}",
            stdout(&o)
        );
    }
}

#[test]
fn echo_demo_round_trips_tcp_and_udp() {
    let o = run("echo", &["--bytes", "300000"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(
        out.contains("tcp echo: sent 300000 bytes, 300000 came back intact"),
        "{out}"
    );
    assert!(
        out.contains("udp echo: 8 of 8 datagrams came back intact"),
        "{out}"
    );
    assert!(out.contains("ping 10.0.0.2: reply in"), "{out}");
    // Quiet without -v: no per-connection lines.
    assert!(!out.contains("tcp 10.0.0.1:"), "{out}");
    assert!(!out.contains("udp 10.0.0.1:"), "{out}");
}

#[test]
fn verbose_logs_one_line_per_connection() {
    let o = run("echo", &["-v", "--bytes", "1000", "--cores", "2"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    let tcp: Vec<_> = out
        .lines()
        .filter(|l| l.starts_with("tcp 10.0.0.1:"))
        .collect();
    assert_eq!(tcp.len(), 1, "{out}");
    assert!(tcp[0].contains("1000 bytes echoed"), "{out}");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("udp 10.0.0.1:"))
            .count(),
        1,
        "{out}"
    );

    let o = run("http", &["-v"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    // The demo makes three connections: keep-alive, pipelined, malformed.
    let lines: Vec<_> = out
        .lines()
        .filter(|l| l.starts_with("http 10.0.0.1:"))
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines.iter().any(|l| l.contains("20 request(s)")), "{out}");
    assert!(lines.iter().any(|l| l.contains("last status 400")), "{out}");
    let quiet = stdout(&run("http", &[]));
    assert!(!quiet.contains("http 10.0.0.1:"), "{quiet}");
}

#[test]
fn http_demo_passes_every_check() {
    let o = run("http", &["--port", "80", "--cores", "2"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(
        out.contains(
            "ok   GET /bytes/100000 (same connection) -> 200 OK, 100000 body bytes, pattern intact"
        ),
        "{out}"
    );
    assert!(out.contains("http demo: 8 of 8 checks passed"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn get_demo_writes_the_body() {
    let file = temp_path("get-body");
    let o = run(
        "get",
        &[
            "http://10.0.0.2:8080/bytes/250000",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.contains("status: 200 OK"), "{out}");
    assert!(out.contains("body: 250000 bytes"), "{out}");
    assert!(out.contains("(the /bytes pattern)"), "{out}");
    let body = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    assert_eq!(body.len(), 250_000);
    assert!(body.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    assert_eq!(pattern::fnv1a(&body), pattern::pattern_hash(250_000));
}

#[test]
fn get_default_url_and_error_statuses() {
    let o = run("get", &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(
        out.contains("GET http://10.0.0.2:8080/bytes/100000"),
        "{out}"
    );
    assert!(out.contains("body: 100000 bytes"), "{out}");

    let o = run("get", &["http://10.0.0.2/missing"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("status: 404 Not Found"));
    assert!(
        stderr(&o).contains("the server answered 404 Not Found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn get_reports_an_unwritable_out_file() {
    let o = run("get", &["--out", "/nonexistent-dir/x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent-dir/x"), "{}", stderr(&o));
}

/// Whether an Ethernet frame is an IPv4 TCP segment with SYN set.
fn is_syn(frame: &[u8]) -> bool {
    if frame.len() < 14 + 20 + 20 || frame[12..14] != [0x08, 0x00] || frame[23] != 6 {
        return false;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    frame
        .get(14 + ihl + 13)
        .is_some_and(|flags| flags & 0x02 != 0)
}

#[test]
fn pcap_records_the_demo() {
    let file = temp_path("echo.pcap");
    let o = run(
        "echo",
        &["--bytes", "20000", "--pcap", file.to_str().unwrap()],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    let bytes = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    let mut reader = PcapReader::new(&bytes).unwrap();
    assert_eq!(reader.link_type(), 1, "LINKTYPE_ETHERNET");
    let (mut frames, mut syns) = (0, 0);
    while let Some(rec) = reader.next_record().unwrap() {
        frames += 1;
        syns += usize::from(is_syn(rec.data));
    }
    assert!(frames > 10, "{frames} frames");
    assert_eq!(syns, 2, "SYN and SYN-ACK of the one TCP connection");
    assert!(out.contains(&format!("pcap: {frames} frames")), "{out}");
}

#[test]
fn bad_pcap_path_is_an_error() {
    let o = run("http", &["--pcap", "/nonexistent-dir/x.pcap"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("creating pcap file /nonexistent-dir/x.pcap"),
        "{}",
        stderr(&o)
    );
}
