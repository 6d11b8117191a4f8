//! What a cell's answer shows after its output: text results printed, image results saved
//! under `--output-dir` without replacing a file, the limits it hit and what it raised said on
//! stderr, and the exit code it makes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use pyth_on_types::{CellOutput, CellResponse};

use crate::commands::run::output::{write_new, Refusal};

/// How many `result-N` names are tried before giving up.
const MAX_NAMES: u32 = 10_000;

/// Prints the text results on stdout, then what the cell raised and the limits it hit on
/// stderr.
pub fn show(answer: &CellResponse) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for result in answer.results.iter().filter(|r| r.mime == "text/plain") {
        let newline = if result.data.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        write!(out, "{}{newline}", result.data).context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    let other = answer
        .results
        .iter()
        .filter(|r| r.mime != "text/plain" && extension(&r.mime).is_none())
        .count();
    if other > 0 {
        eprintln!("pyth-on: {other} result(s) of another type not shown (--json shows them)");
    }
    if let Some(error) = &answer.error {
        if error.traceback.is_empty() {
            eprintln!("{}: {}", error.name, error.message);
        } else {
            eprintln!("{}", error.traceback.trim_end());
        }
    }
    say_limits(answer);
    Ok(())
}

fn say_limits(answer: &CellResponse) {
    if answer.timed_out {
        eprintln!("pyth-on: the cell hit its time limit and was interrupted; the session goes on");
    } else if answer.interrupted && !answer.session_ended {
        eprintln!("pyth-on: the cell was interrupted; the session goes on");
    }
    if answer.memory_exceeded {
        eprintln!("pyth-on: the session hit its memory limit");
    }
    if answer.output_truncated {
        eprintln!("pyth-on: output was truncated");
    }
    if answer.results_truncated {
        eprintln!("pyth-on: some results were dropped (over the server's size bound)");
    }
    if answer.session_ended {
        let code = answer
            .exit_code
            .map_or_else(|| "unknown".to_string(), |c| c.to_string());
        eprintln!("pyth-on: the session ended with this cell (exit code {code})");
    }
}

/// 1 when the cell raised, the interpreter's exit code when it ended with the cell, else 0.
pub fn exit_code(answer: &CellResponse) -> ExitCode {
    if answer.error.is_some() {
        return ExitCode::FAILURE;
    }
    match answer.exit_code.filter(|_| answer.session_ended) {
        Some(0) | None => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1).max(1)),
    }
}

/// The file extension of an image type this command saves.
fn extension(mime: &str) -> Option<&'static str> {
    match mime {
        "image/png" => Some("png"),
        "image/jpeg" => Some("jpg"),
        "image/gif" => Some("gif"),
        "image/webp" => Some("webp"),
        "image/svg+xml" => Some("svg"),
        _ => None,
    }
}

/// Says on stderr how many image results were not saved, and how to save them.
pub fn mention_unsaved_images(answer: &CellResponse) {
    let images = answer
        .results
        .iter()
        .filter(|r| extension(&r.mime).is_some())
        .count();
    if images > 0 {
        eprintln!("pyth-on: {images} image result(s) not saved (--output-dir DIR saves them)");
    }
}

/// Saves each image result in `dir` (created if missing) under the first free
/// `result-N.EXT`, and says where on stderr.
pub fn save_images(dir: &Path, answer: &CellResponse) -> anyhow::Result<Vec<PathBuf>> {
    let images: Vec<&CellOutput> = answer
        .results
        .iter()
        .filter(|r| extension(&r.mime).is_some())
        .collect();
    if images.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut saved = Vec::new();
    for image in images {
        let bytes = match image.mime.as_str() {
            "image/svg+xml" => image.data.as_bytes().to_vec(),
            _ => STANDARD
                .decode(image.data.trim())
                .with_context(|| format!("a {} result is not valid base64", image.mime))?,
        };
        let path = save_new(dir, extension(&image.mime).unwrap_or("bin"), &bytes)?;
        eprintln!("pyth-on: saved {} result to {}", image.mime, path.display());
        saved.push(path);
    }
    Ok(saved)
}

/// Writes `bytes` to the first `result-N.ext` of `dir` that does not exist.
fn save_new(dir: &Path, ext: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    for n in 1..=MAX_NAMES {
        let path = dir.join(format!("result-{n}.{ext}"));
        match write_new(&path, bytes, false) {
            Ok(()) => return Ok(path),
            Err(Refusal::Exists) => continue,
            Err(why) => anyhow::bail!("not saving {}: {why}", path.display()),
        }
    }
    anyhow::bail!(
        "{} holds result-1 to result-{MAX_NAMES}.{ext} already",
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyth_on_types::CellFailure;

    fn answer(results: Vec<CellOutput>) -> CellResponse {
        CellResponse {
            stdout: String::new(),
            stderr: String::new(),
            results,
            results_truncated: false,
            error: None,
            timed_out: false,
            interrupted: false,
            output_truncated: false,
            memory_exceeded: false,
            session_ended: false,
            exit_code: None,
            duration_ms: 1.0,
        }
    }

    #[test]
    fn images_are_saved_under_new_names_and_never_over_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("result-1.png"), "mine").unwrap();
        let png = CellOutput {
            mime: "image/png".into(),
            data: STANDARD.encode([0x89, b'P', b'N', b'G']),
        };
        let svg = CellOutput {
            mime: "image/svg+xml".into(),
            data: "<svg/>".into(),
        };
        let text = CellOutput {
            mime: "text/plain".into(),
            data: "2".into(),
        };
        let saved = save_images(dir.path(), &answer(vec![png, text, svg])).unwrap();
        assert_eq!(
            saved,
            [
                dir.path().join("result-2.png"),
                dir.path().join("result-1.svg")
            ]
        );
        assert_eq!(
            std::fs::read(dir.path().join("result-1.png")).unwrap(),
            b"mine"
        );
        assert_eq!(std::fs::read(&saved[0]).unwrap(), [0x89, b'P', b'N', b'G']);
        assert_eq!(std::fs::read_to_string(&saved[1]).unwrap(), "<svg/>");
    }

    #[test]
    fn a_cell_that_raised_exits_1_and_an_ended_interpreter_exits_with_its_code() {
        let mut raised = answer(Vec::new());
        raised.error = Some(CellFailure {
            name: "ValueError".into(),
            message: "x".into(),
            traceback: String::new(),
        });
        assert_eq!(exit_code(&raised), ExitCode::FAILURE);
        let mut ended = answer(Vec::new());
        (ended.session_ended, ended.exit_code) = (true, Some(3));
        assert_eq!(exit_code(&ended), ExitCode::from(3));
        ended.exit_code = Some(0);
        assert_eq!(exit_code(&ended), ExitCode::SUCCESS);
        assert_eq!(exit_code(&answer(Vec::new())), ExitCode::SUCCESS);
    }
}
