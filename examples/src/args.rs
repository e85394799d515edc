//! Command-line parsing shared by the examples.
//!
//! Every example takes the [`Common`] flags (`--cores`, `--pcap`, `-v`,
//! `--tap NAME --addr A.B.C.D/N [--gateway A.B.C.D]`) and adds its own
//! through [`Program`]. Flags take their value as the next argument or
//! after `=` (`--port 80`, `--port=80`); `--` ends the flags.
//! [`main`] turns a parse into an exit status: 0 after `--help` (usage on
//! stdout), 2 for a usage error (message and a hint on stderr), 1 when
//! the program fails.

use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use netrt::stack::topology::parse_cidr;
use netrt::wire::Ipv4Cidr;

/// Largest `--cores` accepted.
pub const MAX_CORES: usize = 64;

/// A bad command line, with a message for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage_err(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// Where the example's network comes from.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum NetMode {
    /// Self-contained demo: a server and a client namespace joined by an
    /// in-process emulated igb cable (no privileges needed).
    #[default]
    Cable,
    /// One namespace whose igb port is bridged to a Linux TAP device.
    Tap(TapConfig),
}

/// `--tap NAME --addr A.B.C.D/N [--gateway A.B.C.D]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TapConfig {
    /// The TAP device (opened or created).
    pub name: String,
    /// netrt's address and prefix on it.
    pub addr: Ipv4Cidr,
    /// Default gateway, if any (must be inside `addr`'s subnet).
    pub gateway: Option<Ipv4Addr>,
    /// The virtio-net header offloads (checksum, TSO/GSO) across the TAP;
    /// `--no-offloads` turns them off to measure what they bring.
    pub offloads: bool,
}

/// Flags every example takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Common {
    /// Runtime cores (`--cores`, default 1); also the queue pairs per port.
    pub cores: usize,
    /// Write every frame of the example's port(s) to this pcap file.
    pub pcap: Option<PathBuf>,
    /// `-v`: one log line per connection.
    pub verbose: bool,
    /// Cable demo or TAP.
    pub net: NetMode,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            cores: 1,
            pcap: None,
            verbose: false,
            net: NetMode::Cable,
        }
    }
}

/// The usage text of the common flags.
pub const COMMON_OPTIONS: &[(&str, &str)] = &[
    (
        "--cores N",
        "runtime cores, and queue pairs per port (default 1)",
    ),
    (
        "--pcap FILE",
        "record every frame of the port(s) to a pcap file",
    ),
    ("-v, --verbose", "log one line per connection"),
    (
        "--tap NAME",
        "attach to the Linux TAP device NAME instead of running the demo",
    ),
    (
        "--addr A.B.C.D/N",
        "netrt's address on the TAP (needs --tap)",
    ),
    (
        "--gateway A.B.C.D",
        "default gateway on the TAP (needs --tap, inside --addr's subnet)",
    ),
    (
        "--no-offloads",
        "no checksum/TSO offloads across the TAP: MTU-sized frames (needs --tap)",
    ),
    ("-h, --help", "print this help"),
];

/// The arguments after the program name, with their values.
#[derive(Debug)]
pub struct Args<I> {
    it: I,
    /// The value of a `--flag=value` just returned by [`Args::next`].
    inline: Option<String>,
    only_positional: bool,
}

/// One item of the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A flag (`-v`, `--port`); take its value with [`Args::value`].
    Flag(String),
    /// Anything else (or anything after `--`).
    Positional(String),
}

impl<I: Iterator<Item = String>> Args<I> {
    /// Wraps the arguments (without the program name).
    pub fn new(it: I) -> Args<I> {
        Args {
            it,
            inline: None,
            only_positional: false,
        }
    }

    /// The next flag or positional argument.
    ///
    /// Errors: a `--flag=value` whose value was not taken by the flag.
    pub fn next_arg(&mut self) -> Result<Option<Arg>, UsageError> {
        if self.inline.is_some() {
            // The previous flag took no value; `--verbose=1` is a mistake.
            return Err(usage_err("a flag that takes no value was given one"));
        }
        let Some(a) = self.it.next() else {
            return Ok(None);
        };
        if self.only_positional || a == "-" || !a.starts_with('-') {
            return Ok(Some(Arg::Positional(a)));
        }
        if a == "--" {
            self.only_positional = true;
            return self.next_arg();
        }
        if let Some((flag, value)) = a.split_once('=').filter(|_| a.starts_with("--")) {
            self.inline = Some(value.to_string());
            return Ok(Some(Arg::Flag(flag.to_string())));
        }
        Ok(Some(Arg::Flag(a)))
    }

    /// The value of `flag` (inline or the next argument).
    pub fn value(&mut self, flag: &str) -> Result<String, UsageError> {
        if let Some(v) = self.inline.take() {
            return Ok(v);
        }
        self.it
            .next()
            .ok_or_else(|| usage_err(format!("{flag} needs a value")))
    }

    /// The value of `flag`, parsed.
    pub fn parse_value<T>(&mut self, flag: &str) -> Result<T, UsageError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let v = self.value(flag)?;
        v.parse()
            .map_err(|e| usage_err(format!("{flag}: bad value {v:?}: {e}")))
    }
}

/// One example program: its own flags and positional arguments, and what
/// it does.
pub trait Program: Default {
    /// Name shown in the usage.
    const NAME: &'static str;
    /// Synopsis after the name and the common flags (`"[--port N]"`).
    const SYNOPSIS: &'static str;
    /// What the program does (a paragraph; printed by `--help`).
    const ABOUT: &'static str;
    /// The program's own options for `--help`: (flag, description).
    const OPTIONS: &'static [(&'static str, &'static str)];

    /// Consumes `flag` if it is one of the program's (taking its value
    /// from `args`); `Ok(false)` if not.
    fn flag<I: Iterator<Item = String>>(
        &mut self,
        flag: &str,
        args: &mut Args<I>,
    ) -> Result<bool, UsageError>;

    /// A positional argument; by default none is accepted.
    fn positional(&mut self, arg: String) -> Result<(), UsageError> {
        Err(usage_err(format!("unexpected argument {arg:?}")))
    }

    /// Checks the whole command line once parsed.
    fn validate(&self, _common: &Common) -> Result<(), UsageError> {
        Ok(())
    }

    /// Runs the program.
    fn run(self, common: Common) -> io::Result<()>;
}

/// The result of a successful parse.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<P> {
    /// `--help` was given.
    Help,
    /// Run with these flags.
    Run(Common, P),
}

/// Parses `args` (without the program name) for program `P`.
pub fn parse<P: Program>(args: impl IntoIterator<Item = String>) -> Result<Parsed<P>, UsageError> {
    let mut args = Args::new(args.into_iter());
    let mut common = Common::default();
    let mut program = P::default();
    let (mut tap, mut addr, mut gateway) = (None, None, None);
    let mut offloads = true;
    while let Some(arg) = args.next_arg()? {
        let flag = match arg {
            Arg::Positional(p) => {
                program.positional(p)?;
                continue;
            }
            Arg::Flag(f) => f,
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-v" | "--verbose" => common.verbose = true,
            "--cores" => {
                common.cores = args.parse_value("--cores")?;
                if !(1..=MAX_CORES).contains(&common.cores) {
                    return Err(usage_err(format!("--cores must be 1 to {MAX_CORES}")));
                }
            }
            "--pcap" => common.pcap = Some(PathBuf::from(args.value("--pcap")?)),
            "--tap" => {
                let name = args.value("--tap")?;
                if name.is_empty() || name.len() > 15 || name.contains(['/', ' ']) {
                    return Err(usage_err(format!(
                        "--tap: bad interface name {name:?} (1 to 15 characters, no '/' or space)"
                    )));
                }
                tap = Some(name);
            }
            "--addr" => {
                let v = args.value("--addr")?;
                if !v.contains('/') {
                    return Err(usage_err(format!(
                        "--addr: {v:?} needs a prefix length, like 10.0.0.2/24"
                    )));
                }
                addr = Some(parse_cidr(&v).map_err(|e| usage_err(format!("--addr: {e}")))?);
            }
            "--gateway" => gateway = Some(args.parse_value::<Ipv4Addr>("--gateway")?),
            "--no-offloads" => offloads = false,
            _ => {
                if !program.flag(&flag, &mut args)? {
                    return Err(usage_err(format!("unknown flag {flag}")));
                }
            }
        }
    }
    common.net = match (tap, addr) {
        (None, None) if gateway.is_none() && offloads => NetMode::Cable,
        (None, _) => return Err(usage_err("--addr, --gateway and --no-offloads need --tap")),
        (Some(name), None) => {
            return Err(usage_err(format!(
                "--tap {name} needs --addr A.B.C.D/N (netrt's address on the TAP)"
            )))
        }
        (Some(name), Some(addr)) => {
            if let Some(gw) = gateway {
                if !addr.contains_addr(gw) || gw == addr.address() {
                    return Err(usage_err(format!(
                        "--gateway {gw} is not another host of --addr's subnet"
                    )));
                }
            }
            NetMode::Tap(TapConfig {
                name,
                addr,
                gateway,
                offloads,
            })
        }
    };
    program.validate(&common)?;
    Ok(Parsed::Run(common, program))
}

/// The `--help` text of program `P`.
pub fn usage<P: Program>() -> String {
    let mut s = format!(
        "usage: {} [--cores N] [--pcap FILE] [-v] [--tap NAME --addr A.B.C.D/N [--gateway A.B.C.D] [--no-offloads]] {}\n\n{}\n\noptions:\n",
        P::NAME,
        P::SYNOPSIS,
        P::ABOUT
    );
    let width = P::OPTIONS
        .iter()
        .chain(COMMON_OPTIONS)
        .map(|(f, _)| f.len())
        .max()
        .unwrap_or(0);
    for (flag, what) in P::OPTIONS.iter().chain(COMMON_OPTIONS) {
        s.push_str(&format!("  {flag:width$}  {what}\n"));
    }
    s
}

/// Parses the process's arguments, runs `P`, and maps the outcome to an
/// exit status (see the [module docs](self)).
pub fn main<P: Program>() -> ExitCode {
    // Die quietly on a closed stdout (`echo | head`), like C tools do,
    // instead of panicking in println!: Rust starts with SIGPIPE ignored.
    // SAFETY: installs the default disposition, no handler code runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    match parse::<P>(std::env::args().skip(1)) {
        Ok(Parsed::Help) => {
            print!("{}", usage::<P>());
            ExitCode::SUCCESS
        }
        Ok(Parsed::Run(common, program)) => match program.run(common) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}: error: {e}", P::NAME);
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("{}: {e}\ntry '{} --help'", P::NAME, P::NAME);
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, Eq)]
    struct Demo {
        port: u16,
        words: Vec<String>,
    }

    impl Program for Demo {
        const NAME: &'static str = "demo";
        const SYNOPSIS: &'static str = "[--port N] [WORD...]";
        const ABOUT: &'static str = "A test program.";
        const OPTIONS: &'static [(&'static str, &'static str)] = &[("--port N", "the port")];

        fn flag<I: Iterator<Item = String>>(
            &mut self,
            flag: &str,
            args: &mut Args<I>,
        ) -> Result<bool, UsageError> {
            match flag {
                "--port" => self.port = args.parse_value(flag)?,
                _ => return Ok(false),
            }
            Ok(true)
        }

        fn positional(&mut self, arg: String) -> Result<(), UsageError> {
            self.words.push(arg);
            Ok(())
        }

        fn run(self, _: Common) -> io::Result<()> {
            Ok(())
        }
    }

    fn p(args: &[&str]) -> Result<Parsed<Demo>, UsageError> {
        parse::<Demo>(args.iter().map(|s| s.to_string()))
    }

    fn run(args: &[&str]) -> (Common, Demo) {
        match p(args) {
            Ok(Parsed::Run(c, d)) => (c, d),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        match p(args) {
            Err(e) => e.0,
            other => panic!("{args:?} parsed: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let (c, d) = run(&[]);
        assert_eq!(c, Common::default());
        assert_eq!(c.net, NetMode::Cable);
        assert_eq!(d, Demo::default());
    }

    #[test]
    fn common_and_own_flags() {
        let (c, d) = run(&[
            "--cores",
            "2",
            "-v",
            "--pcap",
            "x.pcap",
            "--port=80",
            "a",
            "--",
            "-b",
        ]);
        assert_eq!(c.cores, 2);
        assert!(c.verbose);
        assert_eq!(c.pcap, Some(PathBuf::from("x.pcap")));
        assert_eq!(d.port, 80);
        assert_eq!(d.words, ["a", "-b"]);
    }

    #[test]
    fn tap_mode() {
        let (c, _) = run(&[
            "--tap",
            "tap0",
            "--addr",
            "192.168.7.2/24",
            "--gateway",
            "192.168.7.1",
        ]);
        let NetMode::Tap(t) = c.net else {
            panic!("not tap")
        };
        assert_eq!(t.name, "tap0");
        assert_eq!(t.addr.to_string(), "192.168.7.2/24");
        assert_eq!(t.gateway, Some(Ipv4Addr::new(192, 168, 7, 1)));
        assert!(t.offloads);
        let (c, _) = run(&["--tap", "tap0", "--addr", "10.1.0.2/16"]);
        assert!(matches!(
            c.net,
            NetMode::Tap(TapConfig { gateway: None, .. })
        ));
        let (c, _) = run(&["--no-offloads", "--tap", "tap0", "--addr", "10.1.0.2/16"]);
        assert!(matches!(
            c.net,
            NetMode::Tap(TapConfig {
                offloads: false,
                ..
            })
        ));
    }

    #[test]
    fn help_wins() {
        assert_eq!(p(&["--port", "1", "--help"]), Ok(Parsed::Help));
        assert_eq!(p(&["-h"]), Ok(Parsed::Help));
        let u = usage::<Demo>();
        assert!(u.starts_with("usage: demo "));
        assert!(u.contains("--port N"));
        assert!(u.contains("--tap NAME"));
        assert!(u.contains("A test program."));
    }

    #[test]
    fn errors_are_clear() {
        assert_eq!(err(&["--bogus"]), "unknown flag --bogus");
        assert_eq!(err(&["--port"]), "--port needs a value");
        assert!(err(&["--port", "x"]).starts_with("--port: bad value \"x\""));
        assert!(err(&["--port", "70000"]).starts_with("--port: bad value"));
        assert!(err(&["--cores", "0"]).starts_with("--cores must be 1 to"));
        assert!(err(&["--cores", "65"]).starts_with("--cores must be"));
        assert!(err(&["-v=1"]).contains("unknown flag -v=1"));
        assert!(err(&["--verbose=1"]).contains("takes no value"));
        assert_eq!(
            err(&["--addr", "10.0.0.2/24"]),
            "--addr, --gateway and --no-offloads need --tap"
        );
        assert_eq!(
            err(&["--gateway", "10.0.0.1"]),
            "--addr, --gateway and --no-offloads need --tap"
        );
        assert_eq!(
            err(&["--no-offloads"]),
            "--addr, --gateway and --no-offloads need --tap"
        );
        assert!(err(&["--tap", "t0"]).contains("needs --addr"));
        assert!(err(&["--tap", "t0", "--addr", "10.0.0.2"]).contains("prefix length"));
        assert!(err(&["--tap", "t0", "--addr", "10.0.0.300/24"]).starts_with("--addr:"));
        assert!(err(&["--tap", "t0", "--addr", "10.0.0.2/33"]).starts_with("--addr:"));
        assert!(err(&["--tap", "a/b", "--addr", "10.0.0.2/24"]).contains("bad interface name"));
        assert!(err(&["--tap", "sixteen-chars-xx", "--addr", "10.0.0.2/24"])
            .contains("bad interface name"));
        assert!(err(&[
            "--tap",
            "t0",
            "--addr",
            "10.0.0.2/24",
            "--gateway",
            "10.0.1.1"
        ])
        .contains("not another host"));
        assert!(err(&[
            "--tap",
            "t0",
            "--addr",
            "10.0.0.2/24",
            "--gateway",
            "10.0.0.2"
        ])
        .contains("not another host"));
        assert!(err(&["--gateway", "nope"]).starts_with("--gateway: bad value"));
    }

    #[test]
    fn default_positional_is_rejected() {
        #[derive(Default)]
        struct NoArgs;
        impl Program for NoArgs {
            const NAME: &'static str = "n";
            const SYNOPSIS: &'static str = "";
            const ABOUT: &'static str = "";
            const OPTIONS: &'static [(&'static str, &'static str)] = &[];
            fn flag<I: Iterator<Item = String>>(
                &mut self,
                _: &str,
                _: &mut Args<I>,
            ) -> Result<bool, UsageError> {
                Ok(false)
            }
            fn run(self, _: Common) -> io::Result<()> {
                Ok(())
            }
        }
        let r = parse::<NoArgs>(["stray".to_string()]);
        assert_eq!(
            r.err(),
            Some(UsageError("unexpected argument \"stray\"".into()))
        );
    }
}
