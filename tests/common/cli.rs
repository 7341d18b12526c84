//! CLI tests as specifications:
//!
//! ```ignore
//! Test::new().spec("mode = \"rootles\"\n").run(&["render"]).status(1).stderr_has("did you mean");
//! ```
//!
//! Each test runs the real binary in its own temporary folder (where it looks for farm.toml and
//! writes certs/); every assertion names the command and shows its stderr when it fails.

use std::path::PathBuf;
use std::process::{Command, Output};

pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    out: Option<Output>,
}

impl Test {
    pub fn new() -> Test {
        Test {
            dir: tempfile::tempdir().expect("a temporary folder"),
            args: Vec::new(),
            // The tables' own date: lint and `versions` never read the clock in tests.
            env: vec![("BUILDFARM_TODAY".to_string(), super::today().to_string())],
            out: None,
        }
    }

    /// Writes `text` as the folder's farm.toml.
    pub fn spec(self, text: &str) -> Test {
        self.file("farm.toml", text)
    }

    /// Writes `text` to `name` in the folder.
    pub fn file(self, name: &str, text: impl AsRef<[u8]>) -> Test {
        std::fs::write(self.path(name), text).expect("write a test file");
        self
    }

    /// Sets an environment variable for the runs that follow.
    pub fn env(mut self, name: &str, value: &str) -> Test {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// Drops an environment variable `env` set, for the runs that follow.
    pub fn without_env(mut self, name: &str) -> Test {
        self.env.retain(|(k, _)| k != name);
        self
    }

    /// Runs the binary with `args` (again, if it already ran: earlier output is dropped).
    pub fn run(mut self, args: &[&str]) -> Test {
        self.output_of(args);
        self
    }

    /// Runs the binary with `args` and hands back its output, for helpers that keep a `Test`
    /// and answer with what a run printed.
    pub fn output_of(&mut self, args: &[&str]) -> Output {
        self.args = args.iter().map(|a| a.to_string()).collect();
        let out = self.command(args).output().expect("the binary runs");
        self.out = Some(out.clone());
        out
    }

    /// The binary with `args`, set up as every run is (folder, environment) but not started:
    /// for tests that start several at once or signal one.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_buildfarm"));
        command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path());
        command
    }

    fn output(&self) -> &Output {
        self.out.as_ref().expect("run(..) first")
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output().stdout).into_owned()
    }

    pub fn stdout_bytes(&self) -> Vec<u8> {
        self.output().stdout.clone()
    }

    /// The exit code; `None` when a signal ended the process.
    pub fn code(&self) -> Option<i32> {
        self.output().status.code()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output().stderr).into_owned()
    }

    /// A signal ended the process (as the crash points' abort does), not an exit.
    pub fn killed(self) -> Test {
        let got = self.code();
        assert_eq!(
            got,
            None,
            "`buildfarm {}` exited {got:?} instead of being killed; stderr:\n{}",
            self.args.join(" "),
            self.stderr()
        );
        self
    }

    pub fn status(self, code: i32) -> Test {
        let got = self.output().status.code();
        assert_eq!(
            got,
            Some(code),
            "`buildfarm {}` exited {got:?}; stderr:\n{}",
            self.args.join(" "),
            self.stderr()
        );
        self
    }

    /// stderr is exactly `expected`.
    pub fn stderr_is(self, expected: &str) -> Test {
        assert_eq!(
            self.stderr(),
            expected,
            "`buildfarm {}`",
            self.args.join(" ")
        );
        self
    }

    pub fn stderr_has(self, part: &str) -> Test {
        let text = self.stderr();
        self.has("stderr", text, part)
    }

    pub fn stdout_has(self, part: &str) -> Test {
        let text = self.stdout();
        self.has("stdout", text, part)
    }

    pub fn stderr_lacks(self, part: &str) -> Test {
        let err = self.stderr();
        let command = self.args.join(" ");
        assert!(
            !err.contains(part),
            "`buildfarm {command}` stderr has {part:?}:\n{err}"
        );
        self
    }

    fn has(self, stream: &str, text: String, part: &str) -> Test {
        let command = self.args.join(" ");
        assert!(
            text.contains(part),
            "`buildfarm {command}` {stream} lacks {part:?}:\n{text}"
        );
        self
    }

    pub fn no_stdout(self) -> Test {
        assert_eq!(
            self.stdout(),
            "",
            "`buildfarm {}` printed to stdout",
            self.args.join(" ")
        );
        self
    }

    /// Nothing exists at `name` in the folder (nothing was written there).
    pub fn absent(self, name: &str) -> Test {
        assert!(
            !self.path(name).exists(),
            "`buildfarm {}` wrote {name}",
            self.args.join(" ")
        );
        self
    }

    pub fn path(&self, name: impl AsRef<std::path::Path>) -> PathBuf {
        self.dir.path().join(name)
    }
}
