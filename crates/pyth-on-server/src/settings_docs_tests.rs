//! The settings table of `docs/OPERATIONS.md` against the settings the server really reads:
//! one unbroken table, every flag in it with its variable and its real default, and no row for
//! a setting that does not exist.

use std::collections::BTreeSet;

use clap::Args;

const OPERATIONS: &str = include_str!("../../../docs/OPERATIONS.md");

/// Settings of `pyth-on serve` that live in the command, not in `Settings`: (flag, variable,
/// default cell).
const SERVE_ONLY: [(Option<&str>, &str, &str); 2] = [
    (Some("log-json"), "PYTH_ON_LOG_JSON", "false"),
    (None, "PYTH_ON_LOG", "info"),
];

/// One row of the table: the first cell's backticked names, and the default cell.
struct Row {
    names: Vec<String>,
    default: String,
}

/// The lines of the `## Settings` section, up to the next heading.
fn settings_section() -> Vec<&'static str> {
    let start = OPERATIONS
        .lines()
        .position(|l| l == "## Settings")
        .expect("a Settings section");
    OPERATIONS
        .lines()
        .skip(start + 1)
        .take_while(|l| !l.starts_with("## "))
        .collect()
}

/// The table's rows (header and rule left out); panics when the table is cut in two.
fn rows() -> Vec<Row> {
    let section = settings_section();
    let first = section
        .iter()
        .position(|l| l.starts_with('|'))
        .expect("a table");
    let len = section[first..]
        .iter()
        .take_while(|l| l.starts_with('|'))
        .count();
    let after = &section[first + len..];
    assert!(
        !after.iter().any(|l| l.starts_with('|')),
        "the settings table is interrupted: every row must be in one block"
    );
    section[first + 2..first + len]
        .iter()
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
            assert_eq!(cells.len(), 3, "three cells: {line}");
            let names = cells[0]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect();
            Row {
                names,
                default: cells[1].replace('`', "").trim().to_owned(),
            }
        })
        .collect()
}

/// The row naming `--flag` (or the variable, for a setting without a flag).
fn row_for<'a>(rows: &'a [Row], name: &str) -> &'a Row {
    let found: Vec<_> = rows
        .iter()
        .filter(|r| r.names.iter().any(|n| n == name))
        .collect();
    assert_eq!(found.len(), 1, "{name} must be in exactly one row");
    found[0]
}

/// What the table must say for a clap default; `None` when there is no literal default (the
/// table then says in words what happens, such as "found on the host" or "any public host").
fn expected_default(arg: &clap::Arg) -> Option<String> {
    let values: Vec<_> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .filter(|v| !v.is_empty())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

#[test]
fn every_setting_is_in_the_operations_table_with_its_variable_and_default() {
    let rows = rows();
    let cmd = crate::Settings::augment_args(clap::Command::new("pyth-on"));
    for arg in cmd.get_arguments().filter(|a| a.get_id() != "help") {
        let long = arg.get_long().expect("every setting has a flag");
        let row = row_for(&rows, &format!("--{long}"));
        if let Some(env) = arg.get_env() {
            let env = env.to_string_lossy();
            assert!(row.names.iter().any(|n| *n == env), "--{long}: {env}");
        }
        if let Some(want) = expected_default(arg) {
            assert_eq!(row.default, want, "--{long}: the default");
        }
    }
    for (flag, env, default) in SERVE_ONLY {
        let row = row_for(&rows, &flag.map_or(env.to_owned(), |f| format!("--{f}")));
        assert!(row.names.iter().any(|n| n == env), "{env}");
        assert_eq!(row.default, default, "{env}: the default");
    }
}

#[test]
fn every_row_of_the_operations_table_is_a_real_setting() {
    let cmd = crate::Settings::augment_args(clap::Command::new("pyth-on"));
    let mut known: BTreeSet<String> = BTreeSet::new();
    for arg in cmd.get_arguments() {
        known.extend(arg.get_long().map(|l| format!("--{l}")));
        known.extend(arg.get_env().map(|e| e.to_string_lossy().into_owned()));
    }
    for (flag, env, _) in SERVE_ONLY {
        known.extend(flag.map(|f| format!("--{f}")));
        known.insert(env.to_owned());
    }
    for row in rows() {
        assert!(!row.names.is_empty(), "a row without a setting name");
        let setting_names = row
            .names
            .iter()
            .filter(|n| n.starts_with("--") || n.starts_with("PYTH_ON_") || n.ends_with("_KEY"));
        for name in setting_names {
            assert!(
                known.contains(name),
                "{name} is not a setting of the server"
            );
        }
    }
}
