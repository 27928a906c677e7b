//! `webkad serve --config FILE`: a TOML file whose keys are `serve`'s long flag names.
//!
//! The file is turned into command-line arguments placed before the real ones, so clap
//! checks every value as it checks a flag, and a flag added to `serve` later works in the
//! file with no code here. Keys are checked against clap's own list of `serve` arguments
//! ([`clap::Command::get_arguments`]); each entry is parsed alone first so that a wrong value
//! is reported with the file's line. A flag given on the command line wins over the same
//! key in the file (for repeatable flags, the command line's list replaces the file's).
//!
//! ```toml
//! max-connections = 4096        # --max-connections 4096
//! listen = ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/tcp/4002/ws"]
//! mdns = false                  # a switch: true gives --mdns, false nothing
//! ```

use std::{
    collections::BTreeMap,
    ffi::OsString,
    path::{Path, PathBuf},
};

use clap::{ArgAction, CommandFactory, Parser};
use toml::{Spanned, Value};

use crate::cli::Cli;

/// Why the config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not TOML (the message names the line and column).
    #[error("config file {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// toml's message.
        message: String,
    },
    /// One entry is wrong.
    #[error("config file {path}, line {line}: {message}")]
    Entry {
        /// The file.
        path: PathBuf,
        /// The entry's line (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The command line with `--config FILE`'s entries placed before the real flags, when
/// the subcommand is `serve` and `--config` is given; otherwise `argv` unchanged.
pub fn expand(argv: Vec<OsString>) -> Result<Vec<OsString>, ConfigFileError> {
    if argv.get(1).and_then(|a| a.to_str()) != Some("serve") {
        return Ok(argv);
    }
    let Some(path) = config_path(&argv[2..]) else {
        return Ok(argv);
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigFileError::Read {
        path: path.clone(),
        source,
    })?;
    let from_file = file_args(&path, &text, &argv[2..])?;
    let mut expanded = argv[..2].to_vec();
    expanded.extend(from_file);
    expanded.extend_from_slice(&argv[2..]);
    Ok(expanded)
}

/// The value of `--config FILE` or `--config=FILE` among `serve`'s arguments.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter().map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        if arg == "--" {
            return None;
        }
        if arg == "--config" {
            return args.next().map(|p| PathBuf::from(p.as_ref()));
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    None
}

/// The arguments the file's entries stand for, each checked alone, skipping keys the
/// command line (`given`) sets itself.
pub fn file_args(
    path: &Path,
    text: &str,
    given: &[OsString],
) -> Result<Vec<OsString>, ConfigFileError> {
    let table: BTreeMap<Spanned<String>, Spanned<Value>> =
        toml::from_str(text).map_err(|e| ConfigFileError::Syntax {
            path: path.to_owned(),
            message: toml_message(&e.to_string()),
        })?;
    let mut entries: Vec<_> = table.into_iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    let serve = Cli::command()
        .find_subcommand("serve")
        .expect("serve is a subcommand")
        .clone();
    let mut args = Vec::new();
    for (key, value) in entries {
        let line = line_of(text, key.span().start);
        let entry_error = |message: String| ConfigFileError::Entry {
            path: path.to_owned(),
            line,
            message,
        };
        let name = key.get_ref().replace('_', "-");
        let arg = serve
            .get_arguments()
            .find(|a| a.get_long() == Some(name.as_str()) && name != "config" && name != "help")
            .ok_or_else(|| entry_error(format!("unknown key {:?} (keys are the long flags of `webkad serve --help`, without the dashes)", key.get_ref())))?;
        if given_on_command_line(given, &name) {
            continue;
        }
        let entry = entry_args(&name, arg.get_action(), value.get_ref()).map_err(entry_error)?;
        let mut alone = vec![OsString::from("webkad"), OsString::from("serve")];
        alone.extend(entry.iter().cloned());
        if let Err(error) = Cli::try_parse_from(&alone) {
            return Err(entry_error(clap_message(&error)));
        }
        args.extend(entry);
    }
    Ok(args)
}

/// The arguments one entry stands for: `--name value`, `--name` for a switch set to
/// true, nothing for one set to false, and `--name v` per item of an array.
fn entry_args(name: &str, action: &ArgAction, value: &Value) -> Result<Vec<OsString>, String> {
    let flag = OsString::from(format!("--{name}"));
    // `--name=value` in one argument, so that a value starting with `-` stays a value.
    let with = |v: String| OsString::from(format!("--{name}={v}"));
    let scalar = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Integer(n) => Ok(n.to_string()),
        Value::Float(x) => Ok(x.to_string()),
        Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!(
            "{name}: expected a string or number, found {}",
            other.type_str()
        )),
    };
    match (action, value) {
        (ArgAction::SetTrue, Value::Boolean(true)) => Ok(vec![flag]),
        (ArgAction::SetTrue, Value::Boolean(false)) => Ok(Vec::new()),
        (ArgAction::SetTrue, other) => Err(format!(
            "{name} is a switch: write {name} = true or false, not {}",
            other.type_str()
        )),
        (ArgAction::Append, Value::Array(items)) => {
            let mut args = Vec::new();
            for item in items {
                args.push(with(scalar(item)?));
            }
            Ok(args)
        }
        (_, Value::Array(_)) => Err(format!("{name} takes one value, not an array")),
        (_, v) => Ok(vec![with(scalar(v)?)]),
    }
}

/// Whether the command line sets `--name` itself (`--name v` or `--name=v`).
fn given_on_command_line(given: &[OsString], name: &str) -> bool {
    let flag = format!("--{name}");
    let with_value = format!("{flag}=");
    given
        .iter()
        .map(|a| a.to_string_lossy())
        .take_while(|a| a != "--")
        .any(|a| a == flag || a.starts_with(&with_value))
}

/// clap's error on one line, without its usage and help hints.
fn clap_message(error: &clap::Error) -> String {
    let text = error.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.trim_start_matches("error: ").trim().to_owned()
}

/// toml's message (position, a source excerpt, the cause) as one line: position and cause.
fn toml_message(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match (lines.first(), lines.last()) {
        (Some(first), Some(last)) if lines.len() > 1 => format!("{first}: {last}"),
        _ => message.trim().to_owned(),
    }
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests;
