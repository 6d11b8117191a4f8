//! Files in and out of a run, as the API gives and takes them: [`FileSettings`] (the bounds),
//! [`RunFiles::parse`] (input files decoded and checked, the entry program, output patterns)
//! and [`answer_files`] (what the sandbox collected, as the answer's `files`). The sandbox
//! writes and collects them (`pyth_on_sandbox::files`); this is the edge where the request's
//! strings become checked paths and bytes.

use std::collections::BTreeSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clap::Args;
use pyth_on_launcher::{InputFile, OutputFile, OutputSpec};
pub use pyth_on_sandbox::files::MAX_OUTPUT_PATTERNS;
use pyth_on_sandbox::files::{check_relative_path, PathError, MAX_OUTPUT_BYTES};
use pyth_on_sandbox::Language;
use pyth_on_types::FileEncoding;

use super::RunError;
use crate::domain::Invalid;
use crate::redact::{self, OpenSecrets};
use crate::settings_error::SettingsError;

/// The bounds on a run's files (`PYTH_ON_MAX_INPUT_FILES*`, `PYTH_ON_MAX_OUTPUT_FILES*`).
#[derive(Debug, Clone, Args)]
pub struct FileSettings {
    /// Files a run may be given.
    #[arg(long, env = "PYTH_ON_MAX_INPUT_FILES", default_value_t = 100)]
    pub max_input_files: usize,

    /// Largest input file in bytes (decoded).
    #[arg(
        long,
        env = "PYTH_ON_MAX_INPUT_FILE_BYTES",
        default_value_t = 8_388_608
    )]
    pub max_input_file_bytes: u64,

    /// All of a run's input files together, in bytes (decoded). They are written to the run's
    /// 64 MiB working directory, so at most 32 MiB.
    #[arg(
        long,
        env = "PYTH_ON_MAX_INPUT_FILES_BYTES",
        default_value_t = 8_388_608
    )]
    pub max_input_files_bytes: u64,

    /// Files a run's answer may carry.
    #[arg(long, env = "PYTH_ON_MAX_OUTPUT_FILES", default_value_t = 100)]
    pub max_output_files: u32,

    /// All of a run's output files together, in bytes.
    #[arg(
        long,
        env = "PYTH_ON_MAX_OUTPUT_FILES_BYTES",
        default_value_t = 8_388_608
    )]
    pub max_output_files_bytes: u64,
}

/// Half of the run's working directory (`/work`, 64 MiB): input files never fill it.
const MAX_INPUT_TOTAL: u64 = 32 << 20;

impl FileSettings {
    /// Checks every value; `Err` names the flag. `max_output_bytes` is the per-stream output
    /// cap: the runner's answer carries both streams and the files (base64) in one frame of at
    /// most 64 MiB. (The request body limit bounds input files too: they arrive in the body.)
    pub fn validate(&self, max_output_bytes: u64) -> Result<(), SettingsError> {
        if self.max_input_files_bytes > MAX_INPUT_TOTAL {
            return Err(SettingsError::new(
                "--max-input-files-bytes",
                format!("must be at most {MAX_INPUT_TOTAL}"),
            ));
        }
        if self.max_input_file_bytes > self.max_input_files_bytes {
            return Err(SettingsError::new(
                "--max-input-file-bytes",
                "must be at most --max-input-files-bytes",
            ));
        }
        if self.max_output_files_bytes > MAX_OUTPUT_BYTES {
            return Err(SettingsError::new(
                "--max-output-files-bytes",
                format!("must be at most {MAX_OUTPUT_BYTES}"),
            ));
        }
        // Base64 grows the files by a third; the streams may each grow by escaping.
        let frame = self.max_output_files_bytes / 3 * 4 + 4 * max_output_bytes;
        if frame > 60 << 20 {
            return Err(SettingsError::new(
                "--max-output-files-bytes",
                "with --max-output-bytes, a run's answer would pass the runner's 64 MiB frame",
            ));
        }
        Ok(())
    }
}

/// A run's files, checked: what to write before it starts, what to bring back after.
#[derive(Debug, Default)]
pub struct RunFiles {
    /// Written under `/work` before the program starts.
    pub input: Vec<InputFile>,
    /// Collected after it ended.
    pub output: Option<OutputSpec>,
    /// The input file to run as the program (normalised path), if `entry` named one.
    pub entry: Option<String>,
}

/// What a request says about files.
#[derive(Debug, Default)]
pub struct FileOptions {
    /// `files`.
    pub files: Option<Vec<pyth_on_types::InputFile>>,
    /// `entry`.
    pub entry: Option<String>,
    /// `outputFiles`.
    pub output_files: Option<Vec<String>>,
}

impl RunFiles {
    /// Decodes and checks the request's files against `limits`.
    pub fn parse(limits: &FileSettings, options: FileOptions) -> Result<Self, RunError> {
        let input = parse_input(limits, options.files.unwrap_or_default())?;
        let entry = match options.entry {
            Some(raw) => {
                let path = check_relative_path(&raw).map_err(|e| path_invalid("entry", &e))?;
                if !input.iter().any(|f| f.path == path) {
                    return Err(Invalid::field("entry", "must name one of `files`").into());
                }
                Some(path)
            }
            None => None,
        };
        let output = match options.output_files {
            Some(patterns) => Some(OutputSpec {
                patterns: parse_patterns(patterns)?,
                max_files: limits.max_output_files,
                max_bytes: limits.max_output_files_bytes,
            }),
            None => None,
        };
        Ok(Self {
            input,
            output,
            entry,
        })
    }
}

fn path_invalid(field: &str, err: &PathError) -> Invalid {
    Invalid::field(field, err.to_string())
}

/// Each file decoded and its path checked; no path twice, none beneath another's file.
fn parse_input(
    limits: &FileSettings,
    files: Vec<pyth_on_types::InputFile>,
) -> Result<Vec<InputFile>, RunError> {
    if files.len() > limits.max_input_files {
        return Err(RunError::FilesTooLarge(format!(
            "a run takes at most {} files",
            limits.max_input_files
        )));
    }
    let mut total = 0u64;
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let path = check_relative_path(&file.path).map_err(|e| path_invalid("files", &e))?;
        let content = match file.encoding {
            FileEncoding::Utf8 => file.content.into_bytes(),
            FileEncoding::Base64 => STANDARD.decode(file.content.as_bytes()).map_err(|_| {
                Invalid::field("files", format!("{path}: content is not valid base64"))
            })?,
        };
        let size = content.len() as u64;
        if size > limits.max_input_file_bytes {
            return Err(RunError::FilesTooLarge(format!(
                "{path} is {size} bytes; a file may have at most {}",
                limits.max_input_file_bytes
            )));
        }
        total += size;
        if total > limits.max_input_files_bytes {
            return Err(RunError::FilesTooLarge(format!(
                "the files pass the {}-byte limit of a run",
                limits.max_input_files_bytes
            )));
        }
        if !seen.insert(path.clone()) {
            return Err(Invalid::field("files", format!("{path} is given twice")).into());
        }
        out.push(InputFile { path, content });
    }
    if let Some(clash) = out
        .iter()
        .find(|f| seen.iter().any(|p| p.starts_with(&format!("{}/", f.path))))
    {
        let msg = format!("{} is a file and a directory", clash.path);
        return Err(Invalid::field("files", msg).into());
    }
    Ok(out)
}

/// Each pattern a checked relative path (glob characters allowed), at most
/// [`MAX_OUTPUT_PATTERNS`].
fn parse_patterns(patterns: Vec<String>) -> Result<Vec<String>, Invalid> {
    if patterns.len() > MAX_OUTPUT_PATTERNS {
        return Err(Invalid::field(
            "outputFiles",
            format!("at most {MAX_OUTPUT_PATTERNS} patterns"),
        ));
    }
    patterns
        .iter()
        .map(|p| check_relative_path(p).map_err(|e| path_invalid("outputFiles", &e)))
        .collect()
}

/// With input files, a Python program imports them like modules beside it: `/work` goes first
/// on `PYTHONPATH` (the program itself lives in `/code`, so `sys.path[0]` is not `/work`).
pub fn import_from_work(language: Language, files: &RunFiles, env: &mut Vec<(String, String)>) {
    if language != Language::Python || files.input.is_empty() {
        return;
    }
    match env.iter_mut().find(|(name, _)| name == "PYTHONPATH") {
        Some((_, value)) => *value = format!("/work:{value}"),
        None => env.push(("PYTHONPATH".into(), "/work".into())),
    }
}

/// The program that runs `entry` (a checked relative path under `/work`) as the main one.
pub fn entry_program(language: Language, entry: &str) -> String {
    // A JSON string is a valid Python and JavaScript string literal.
    let path = serde_json::Value::String(format!("/work/{entry}")).to_string();
    match language {
        Language::Python => format!(
            "import os, runpy, sys\n\
             sys.argv[0] = {path}\n\
             sys.path.insert(0, os.path.dirname({path}))\n\
             runpy.run_path({path}, run_name='__main__')\n"
        ),
        Language::Javascript => {
            format!("process.argv[1] = {path};\nrequire('module').runMain();\n")
        }
    }
}

/// The answer's `files`: text files (valid UTF-8) redacted like stdout, others as base64.
pub fn answer_files(
    files: Vec<OutputFile>,
    secrets: &OpenSecrets,
) -> Vec<pyth_on_types::OutputFile> {
    files
        .into_iter()
        .map(|f| {
            let size = f.content.len() as u64;
            match String::from_utf8(f.content) {
                Ok(text) => pyth_on_types::OutputFile {
                    path: f.path,
                    size,
                    encoding: FileEncoding::Utf8,
                    content: redact::redact(&text, secrets),
                },
                Err(bytes) => pyth_on_types::OutputFile {
                    path: f.path,
                    size,
                    encoding: FileEncoding::Base64,
                    content: STANDARD.encode(bytes.as_bytes()),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> FileSettings {
        FileSettings {
            max_input_files: 3,
            max_input_file_bytes: 10,
            max_input_files_bytes: 15,
            max_output_files: 5,
            max_output_files_bytes: 100,
        }
    }

    fn file(path: &str, content: &str) -> pyth_on_types::InputFile {
        pyth_on_types::InputFile {
            path: path.into(),
            content: content.into(),
            encoding: FileEncoding::Utf8,
        }
    }

    fn parse(files: Vec<pyth_on_types::InputFile>) -> Result<RunFiles, RunError> {
        RunFiles::parse(
            &limits(),
            FileOptions {
                files: Some(files),
                ..FileOptions::default()
            },
        )
    }

    #[test]
    fn input_files_are_decoded_and_their_paths_normalised() {
        let b64 = pyth_on_types::InputFile {
            path: "./data//x.bin".into(),
            content: "AP8=".into(),
            encoding: FileEncoding::Base64,
        };
        let run = parse(vec![file("a.py", "print(1)"), b64]).unwrap();
        assert_eq!(run.input[0].content, b"print(1)");
        assert_eq!(run.input[1].path, "data/x.bin");
        assert_eq!(run.input[1].content, vec![0, 255]);
    }

    #[test]
    fn a_path_that_leaves_the_working_directory_is_a_validation_error() {
        for path in ["/etc/passwd", "../x", "a/../../x", "a\0b", ""] {
            let err = parse(vec![file(path, "x")]).unwrap_err();
            assert!(
                matches!(&err, RunError::Invalid(i) if i.code == "validation_failed"),
                "{path:?}: {err:?}"
            );
        }
    }

    #[test]
    fn too_many_or_too_large_files_are_refused_as_too_large() {
        let many = vec![file("a", ""), file("b", ""), file("c", ""), file("d", "")];
        assert!(matches!(parse(many), Err(RunError::FilesTooLarge(_))));
        let big = vec![file("a", "12345678901")];
        assert!(matches!(parse(big), Err(RunError::FilesTooLarge(_))));
        let total = vec![file("a", "1234567890"), file("b", "1234567890")];
        assert!(matches!(parse(total), Err(RunError::FilesTooLarge(_))));
    }

    #[test]
    fn a_path_given_twice_or_both_file_and_directory_is_refused() {
        assert!(parse(vec![file("a", ""), file("./a", "")]).is_err());
        assert!(parse(vec![file("a", ""), file("a/b", "")]).is_err());
        assert!(parse(vec![file("b", "x"), file("b", "x")]).is_err());
    }

    #[test]
    fn bad_base64_names_the_file() {
        let bad = pyth_on_types::InputFile {
            path: "x".into(),
            content: "***".into(),
            encoding: FileEncoding::Base64,
        };
        let err = parse(vec![bad]).unwrap_err().to_string();
        assert!(err.contains("x: content is not valid base64"), "{err}");
    }

    #[test]
    fn the_entry_must_be_one_of_the_files() {
        let options = |entry: &str| FileOptions {
            files: Some(vec![file("pkg/main.py", "")]),
            entry: Some(entry.into()),
            output_files: None,
        };
        let run = RunFiles::parse(&limits(), options("./pkg/main.py")).unwrap();
        assert_eq!(run.entry.as_deref(), Some("pkg/main.py"));
        assert!(RunFiles::parse(&limits(), options("other.py")).is_err());
    }

    #[test]
    fn output_patterns_are_checked_like_paths_and_carry_the_bounds() {
        let options = |p: &str| FileOptions {
            output_files: Some(vec![p.into()]),
            ..FileOptions::default()
        };
        let run = RunFiles::parse(&limits(), options("out/**/*.png")).unwrap();
        let spec = run.output.unwrap();
        assert_eq!(spec.patterns, ["out/**/*.png"]);
        assert_eq!((spec.max_files, spec.max_bytes), (5, 100));
        assert!(RunFiles::parse(&limits(), options("../*")).is_err());
        assert!(RunFiles::parse(&limits(), options("/tmp/*")).is_err());
    }

    #[test]
    fn python_runs_with_input_files_import_from_the_working_directory_first() {
        let files = RunFiles {
            input: vec![InputFile {
                path: "helper.py".into(),
                content: Vec::new(),
            }],
            ..RunFiles::default()
        };
        let mut env = vec![("PYTHONPATH".to_string(), "/opt/env".to_string())];
        import_from_work(Language::Python, &files, &mut env);
        assert_eq!(env[0].1, "/work:/opt/env");
        let mut env = Vec::new();
        import_from_work(Language::Javascript, &files, &mut env);
        import_from_work(Language::Python, &RunFiles::default(), &mut env);
        assert!(env.is_empty());
    }

    #[test]
    fn the_entry_program_quotes_the_path_as_a_string_literal() {
        let py = entry_program(Language::Python, "a'b/m.py");
        assert!(py.contains(r#"runpy.run_path("/work/a'b/m.py", run_name='__main__')"#));
        let js = entry_program(Language::Javascript, "src/main.js");
        assert!(js.starts_with(r#"process.argv[1] = "/work/src/main.js";"#));
    }

    #[test]
    fn text_files_come_back_redacted_and_binary_ones_as_base64() {
        let secrets = vec![(
            "TOKEN".to_string(),
            zeroize::Zeroizing::new("s3cr3t-value".to_string()),
        )];
        let files = vec![
            OutputFile {
                path: "a.txt".into(),
                content: b"key=s3cr3t-value".to_vec(),
            },
            OutputFile {
                path: "b.png".into(),
                content: vec![0x89, 0x50, 0xff],
            },
        ];
        let out = answer_files(files, &secrets);
        assert_eq!(out[0].content, "key=***");
        assert_eq!(out[0].size, 16);
        assert_eq!(out[1].encoding, FileEncoding::Base64);
        assert_eq!(out[1].content, "iVD/");
    }
}
