//! The one parser of every boolean setting (a flag or a `PYTH_ON_*` variable): `true/false`,
//! `1/0`, `on/off`, `yes/no`, in any case. Anything else stops the server with an error naming
//! the flag, its environment variable and the accepted spellings.
//!
//! Every boolean flag is declared the same way, so `--metrics` alone means `true` and
//! `--metrics=false`, `--metrics off` or `PYTH_ON_METRICS=0` turn it off:
//!
//! ```text
//! #[arg(long, env = "PYTH_ON_X", default_value = "false", action = clap::ArgAction::Set,
//!       num_args = 0..=1, default_missing_value = "true", value_parser = BoolSetting)]
//! ```

use std::ffi::OsStr;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;

/// The accepted spellings, as the error message and the docs list them.
pub const ACCEPTED: &str = "true/false, 1/0, on/off or yes/no (any case)";

/// The value of one boolean setting: `None` for a spelling not in [`ACCEPTED`].
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "yes" => Some(true),
        "false" | "0" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// [`parse_bool`] as a clap value parser, for flags and their environment variables alike.
#[derive(Debug, Clone, Copy, Default)]
pub struct BoolSetting;

impl TypedValueParser for BoolSetting {
    type Value = bool;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<bool, clap::Error> {
        let text = value.to_string_lossy();
        parse_bool(&text).ok_or_else(|| refusal(cmd, arg, &text))
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        // Only the documented spelling shows in `--help`; the others are accepted silently.
        Some(Box::new(
            ["true", "false"]
                .into_iter()
                .map(clap::builder::PossibleValue::new),
        ))
    }
}

/// The error for a value that is not a boolean: the flag, its variable, the spellings.
fn refusal(cmd: &clap::Command, arg: Option<&clap::Arg>, value: &str) -> clap::Error {
    let flag = arg
        .and_then(clap::Arg::get_long)
        .map_or_else(|| "a boolean setting".to_string(), |l| format!("--{l}"));
    let env = arg
        .and_then(clap::Arg::get_env)
        .map(|e| format!(" ({})", e.to_string_lossy()))
        .unwrap_or_default();
    let message = format!("invalid value '{value}' for {flag}{env}: expected {ACCEPTED}\n");
    clap::Error::raw(ErrorKind::InvalidValue, message).with_cmd(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_usual_spelling_of_true_and_false_is_read_in_any_case() {
        for word in ["true", "1", "on", "yes", "TRUE", "On", "YES", " yes "] {
            assert_eq!(parse_bool(word), Some(true), "{word}");
        }
        for word in ["false", "0", "off", "no", "FALSE", "Off", "NO", "0 "] {
            assert_eq!(parse_bool(word), Some(false), "{word}");
        }
    }

    #[test]
    fn anything_else_is_not_a_boolean() {
        for word in [
            "", "maybe", "2", "y", "n", "t", "f", "enabled", "truee", "-1",
        ] {
            assert_eq!(parse_bool(word), None, "{word:?}");
        }
    }

    /// The server's settings as the `serve` command parses them.
    fn command() -> clap::Command {
        use clap::Args;
        crate::Settings::augment_args(clap::Command::new("pyth-on").no_binary_name(true))
    }

    fn settings(args: &[&str]) -> Result<crate::Settings, clap::Error> {
        use clap::FromArgMatches;
        let matches = command().try_get_matches_from(args)?;
        crate::Settings::from_arg_matches(&matches)
    }

    /// Reads one boolean back from parsed settings.
    type Getter = fn(&crate::Settings) -> bool;

    /// The boolean flags, each with a way to read it back from parsed settings.
    fn boolean_settings() -> Vec<(&'static str, Getter)> {
        vec![
            ("metrics", |s| s.metrics),
            ("console", |s| s.console),
            ("pool-prestart", |s| s.pool_prestart),
            ("fork-server", |s| s.fork_server),
            ("runner-spawner", |s| s.runner_spawner),
            ("reuse-netns", |s| s.reuse_netns),
            ("egress", |s| s.egress.mode == crate::egress::EgressMode::On),
            ("package-wheels-only", |s| s.packages.package_wheels_only),
            ("npm-install-scripts", |s| s.packages.npm_install_scripts),
            ("package-trust-index-dns", |s| {
                s.packages.package_trust_index_dns
            }),
        ]
    }

    #[test]
    fn every_boolean_setting_reads_every_spelling_as_a_flag_value() {
        for (flag, get) in boolean_settings() {
            for (word, want) in [("true", true), ("1", true), ("on", true), ("YES", true)]
                .into_iter()
                .chain([
                    ("false", false),
                    ("0", false),
                    ("OFF", false),
                    ("no", false),
                ])
            {
                let s = settings(&[&format!("--{flag}={word}")]).expect("a boolean spelling");
                assert_eq!(get(&s), want, "--{flag}={word}");
                let s = settings(&[&format!("--{flag}"), word]).expect("a boolean spelling");
                assert_eq!(get(&s), want, "--{flag} {word}");
            }
            let s = settings(&[&format!("--{flag}")]).expect("a bare flag");
            assert!(get(&s), "--{flag} alone means true");
        }
    }

    #[test]
    fn the_boolean_defaults_are_unchanged() {
        let s = settings(&[]).expect("defaults");
        let on: Vec<_> = boolean_settings()
            .into_iter()
            .filter(|(_, get)| get(&s))
            .map(|(flag, _)| flag)
            .collect();
        assert_eq!(
            on,
            [
                "console",
                "pool-prestart",
                "fork-server",
                "runner-spawner",
                "reuse-netns",
                "npm-install-scripts",
                "package-trust-index-dns"
            ]
        );
    }

    #[test]
    fn a_fork_server_must_serve_at_least_one_run_before_it_is_replaced() {
        assert_eq!(settings(&[]).expect("defaults").fork_server_runs, 1000);
        assert_eq!(
            settings(&["--fork-server-runs", "1"])
                .expect("one")
                .fork_server_runs,
            1
        );
        let err = settings(&["--fork-server-runs", "0"]).expect_err("0 is refused");
        assert!(err.to_string().contains("--fork-server-runs"), "{err}");
    }

    #[test]
    fn a_bad_boolean_names_the_flag_its_variable_and_the_accepted_spellings() {
        for (flag, _) in boolean_settings() {
            let err = settings(&[&format!("--{flag}=maybe")])
                .expect_err("maybe is not a boolean")
                .to_string();
            let env = format!("PYTH_ON_{}", flag.to_uppercase().replace('-', "_"));
            for needle in [format!("--{flag}"), env, "maybe".into(), ACCEPTED.into()] {
                assert!(err.contains(&needle), "{needle} missing from: {err}");
            }
        }
    }

    #[test]
    fn no_setting_is_a_boolean_outside_the_one_parser() {
        let cmd = command();
        let mut booleans = Vec::new();
        for arg in cmd.get_arguments() {
            let action = arg.get_action();
            assert!(
                !matches!(action, clap::ArgAction::SetTrue | clap::ArgAction::SetFalse),
                "{:?} is a bare flag: declare it with BoolSetting",
                arg.get_long()
            );
            let values: Vec<_> = arg
                .get_possible_values()
                .iter()
                .map(|v| v.get_name().to_string())
                .collect();
            if values == ["true", "false"] {
                booleans.extend(arg.get_long());
            }
        }
        let mut listed: Vec<_> = boolean_settings().into_iter().map(|(f, _)| f).collect();
        booleans.sort_unstable();
        listed.sort_unstable();
        assert_eq!(booleans, listed, "every boolean setting is tested above");
    }
}
