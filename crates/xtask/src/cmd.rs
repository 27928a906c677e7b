//! Running external commands as named steps.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Result, bail};

/// The cargo to call: `$CARGO` (set when running under `cargo xtask`), else `cargo`.
pub fn cargo_bin() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// The workspace root (two levels above this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// A `cargo <args>` command that runs in the workspace root.
pub fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(cargo_bin());
    command.args(args).current_dir(workspace_root());
    command
}

/// A `<program> <args>` command that runs in the workspace root.
pub fn program(program: &str, args: &[&str]) -> Command {
    let mut command = Command::new(program);
    command.args(args).current_dir(workspace_root());
    command
}

/// The command line of `command`, for display (program shown by file name only).
pub fn display(command: &Command) -> String {
    let program = Path::new(command.get_program());
    let mut line = program
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy()
        .into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Runs `command` as the step `name`: prints `==> name: command line` on
/// stderr, runs it, and fails with a one-line error naming the step unless
/// it exits successfully.
pub fn run_step(name: &str, command: &mut Command) -> Result<()> {
    eprintln!("==> {name}: {}", display(command));
    let status = match command.status() {
        Ok(status) => status,
        Err(err) => bail!(
            "step `{name}` failed: could not start `{}`: {err}",
            display(command)
        ),
    };
    if !status.success() {
        bail!("step `{name}` failed ({status}): {}", display(command));
    }
    Ok(())
}

/// Runs `command` quietly and returns its stdout if it exited successfully.
pub fn stdout_of(command: &mut Command) -> Option<String> {
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Whether `command` runs quietly and exits successfully.
pub fn succeeds(command: &mut Command) -> bool {
    stdout_of(command).is_some()
}

/// Whether the `--version` output of `command` has `version` as one of its
/// words (a leading `v` is ignored), e.g. `trunk 0.21.14` for `0.21.14`.
pub fn reports_version(command: &mut Command, version: &str) -> bool {
    stdout_of(command).is_some_and(|out| {
        out.split_whitespace()
            .any(|word| word.trim_start_matches('v') == version)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_program_file_name_and_args() {
        let mut command = Command::new("/usr/bin/cargo");
        command.args(["fmt", "--all"]);
        assert_eq!(display(&command), "cargo fmt --all");
    }

    #[test]
    fn workspace_root_has_the_workspace_manifest() {
        assert!(workspace_root().join("crates/xtask/Cargo.toml").is_file());
    }
}
