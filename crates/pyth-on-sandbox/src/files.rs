//! Files in and out of a run, and live output: the wire types the server and the runner
//! exchange for them, and the one check of a file path both sides apply.
//!
//! - **Input files** ([`InputFile`], in [`JobSpec::files`]) are written under the working
//!   directory `/work` by the payload (the run's own uid, seccomp in place, inside the run's
//!   mount namespace) after the release and before the program is exec'd.
//! - **Output files** ([`OutputSpec`], in [`JobSpec::output`]) are collected by the run's init
//!   once the payload has exited and every other process of the run is killed and reaped:
//!   nothing of the run is alive while init reads them, and init opens each one beneath
//!   `/work` without following any link, and only if it is a regular file. They come back in
//!   [`JobResult::files`].
//! - **Live output** ([`JobSpec::stream`]): the runner sends [`RunnerFrame::Output`] frames
//!   with each chunk of stdout or stderr as it is read, before the result.
//!
//! Binary content travels base64-encoded inside the JSON frames.
//!
//! [`JobSpec::files`]: crate::protocol::JobSpec::files
//! [`JobSpec::output`]: crate::protocol::JobSpec::output
//! [`JobSpec::stream`]: crate::protocol::JobSpec::stream
//! [`JobResult::files`]: crate::protocol::JobResult::files
//! [`RunnerFrame::Output`]: crate::protocol::RunnerFrame::Output

use serde::{Deserialize, Serialize};

pub mod collect;
pub(crate) mod glob;
pub mod input;

/// The working directory of every run, where input files are written and output files found.
pub const WORK_DIR: &str = "/work";

/// Longest accepted relative path of an input or output file, in bytes.
pub const MAX_PATH_BYTES: usize = 255;

/// Deepest accepted relative path (number of components).
pub const MAX_PATH_DEPTH: usize = 8;

/// Most patterns an [`OutputSpec`] may have.
pub const MAX_OUTPUT_PATTERNS: usize = 16;

/// Largest [`OutputSpec::max_bytes`] accepted (32 MiB): the files come back base64-encoded in
/// the result frame, which must stay under [`MAX_FRAME_BYTES`](crate::protocol::MAX_FRAME_BYTES).
pub const MAX_OUTPUT_BYTES: u64 = 32 << 20;

/// The start of the set-up error (a `Failed` frame) of a run whose input files do not fit in
/// `/work`: its tmpfs (`Limits::tmpfs_size_mb`, `tmpfs_inodes`) is full, or one file is larger
/// than `Limits::fsize_bytes`. The server can tell it from other failures by this text.
pub const INPUT_FILES_TOO_LARGE: &str = "the input files do not fit in the working directory";

/// A file written under [`WORK_DIR`] before the program starts.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InputFile {
    /// Relative path, checked by [`check_relative_path`].
    pub path: String,
    /// The bytes.
    #[serde(with = "base64_bytes")]
    pub content: Vec<u8>,
}

impl std::fmt::Debug for InputFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputFile")
            .field("path", &self.path)
            .field("content", &format_args!("<{} bytes>", self.content.len()))
            .finish()
    }
}

/// Which files to bring back after the program ended, and how much of them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutputSpec {
    /// Glob patterns relative to [`WORK_DIR`]: `*` and `?` match within one path component,
    /// `**` matches any number of components, `[abc]` one of a set. A pattern is a relative
    /// path under the rules of [`check_relative_path`] (glob characters allowed).
    pub patterns: Vec<String>,
    /// At most this many files come back.
    pub max_files: u32,
    /// At most this many bytes of content in all (a file that would pass it is left out).
    pub max_bytes: u64,
}

/// Why an [`OutputSpec`] is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputSpecError {
    /// A pattern is not a relative path under the rules of [`check_relative_path`].
    #[error("output pattern {pattern:?}: {reason}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// Why it was refused.
        #[source]
        reason: PathError,
    },
    /// More than [`MAX_OUTPUT_PATTERNS`] patterns.
    #[error("at most {MAX_OUTPUT_PATTERNS} output patterns")]
    TooManyPatterns,
    /// `max_bytes` above [`MAX_OUTPUT_BYTES`].
    #[error("output files may total at most {MAX_OUTPUT_BYTES} bytes")]
    TooManyBytes,
}

impl OutputSpec {
    /// Checks the patterns and bounds (the runner refuses a job whose spec fails this).
    pub fn check(&self) -> Result<(), OutputSpecError> {
        if self.patterns.len() > MAX_OUTPUT_PATTERNS {
            return Err(OutputSpecError::TooManyPatterns);
        }
        if self.max_bytes > MAX_OUTPUT_BYTES {
            return Err(OutputSpecError::TooManyBytes);
        }
        for pattern in &self.patterns {
            glob::Pattern::new(pattern).map_err(|reason| OutputSpecError::Pattern {
                pattern: pattern.clone(),
                reason,
            })?;
        }
        Ok(())
    }
}

/// A regular file found by an [`OutputSpec`] after the run.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutputFile {
    /// Path relative to [`WORK_DIR`].
    pub path: String,
    /// The bytes.
    #[serde(with = "base64_bytes")]
    pub content: Vec<u8>,
}

impl std::fmt::Debug for OutputFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputFile")
            .field("path", &self.path)
            .field("content", &format_args!("<{} bytes>", self.content.len()))
            .finish()
    }
}

/// One of the program's two output streams.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Bytes the program wrote to one stream, as read (chunk boundaries are arbitrary: a UTF-8
/// sequence may be split between two chunks). Chunks of one stream arrive in order; the bytes
/// of all chunks of a stream are exactly the start of that stream in [`JobResult`]'s capture
/// (up to the output cap).
///
/// [`JobResult`]: crate::protocol::JobResult
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutputChunk {
    /// Which stream.
    pub stream: Stream,
    /// The bytes.
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
}

impl std::fmt::Debug for OutputChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputChunk")
            .field("stream", &self.stream)
            .field("data", &format_args!("<{} bytes>", self.data.len()))
            .finish()
    }
}

/// Why a relative file path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Empty, or only `.` components.
    #[error("the path is empty")]
    Empty,
    /// Starts with `/`.
    #[error("the path must be relative to the working directory")]
    Absolute,
    /// Has a `..` component.
    #[error("the path must not contain `..`")]
    ParentDir,
    /// Contains NUL or another control character.
    #[error("the path must not contain control characters")]
    Control,
    /// Contains a backslash (not a separator here; refused to avoid surprises).
    #[error("the path must not contain a backslash")]
    Backslash,
    /// Longer than [`MAX_PATH_BYTES`].
    #[error("the path is longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    /// Deeper than [`MAX_PATH_DEPTH`].
    #[error("the path has more than {MAX_PATH_DEPTH} components")]
    TooDeep,
}

/// Checks a relative path and returns its normal form: components joined by `/`, without
/// empty or `.` components. Refuses absolute paths, `..`, control characters (NUL included),
/// backslashes, and paths too long or too deep.
pub fn check_relative_path(path: &str) -> Result<String, PathError> {
    if path.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute);
    }
    if path.chars().any(char::is_control) {
        return Err(PathError::Control);
    }
    if path.contains('\\') {
        return Err(PathError::Backslash);
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(PathError::ParentDir);
    }
    if parts.is_empty() {
        return Err(PathError::Empty);
    }
    if parts.len() > MAX_PATH_DEPTH {
        return Err(PathError::TooDeep);
    }
    Ok(parts.join("/"))
}

/// Serde for `Vec<u8>` as a standard base64 string.
pub mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Encodes the bytes.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    /// Decodes the bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_path_is_normalised() {
        assert_eq!(check_relative_path("a//b/./c.py").unwrap(), "a/b/c.py");
        assert_eq!(check_relative_path("./main.py").unwrap(), "main.py");
    }

    #[test]
    fn paths_that_could_leave_the_working_directory_are_refused() {
        for (path, err) in [
            ("/etc/passwd", PathError::Absolute),
            ("a/../../etc", PathError::ParentDir),
            ("..", PathError::ParentDir),
            ("a\0b", PathError::Control),
            ("a\\b", PathError::Backslash),
            ("", PathError::Empty),
            ("./.", PathError::Empty),
        ] {
            assert_eq!(check_relative_path(path), Err(err), "{path:?}");
        }
    }

    #[test]
    fn paths_too_long_or_too_deep_are_refused() {
        let long = "a".repeat(MAX_PATH_BYTES + 1);
        assert_eq!(check_relative_path(&long), Err(PathError::TooLong));
        let deep = ["d"; MAX_PATH_DEPTH + 1].join("/");
        assert_eq!(check_relative_path(&deep), Err(PathError::TooDeep));
        let deepest = ["d"; MAX_PATH_DEPTH].join("/");
        assert!(check_relative_path(&deepest).is_ok());
    }

    #[test]
    fn an_output_spec_is_checked_pattern_by_pattern_and_bounded() {
        let spec = |patterns: &[&str], max_bytes| OutputSpec {
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            max_files: 10,
            max_bytes,
        };
        assert_eq!(spec(&["out/**/*.txt", "[ab]?.log"], 1024).check(), Ok(()));
        assert!(matches!(
            spec(&["ok", "/etc/*"], 1).check(),
            Err(OutputSpecError::Pattern { .. })
        ));
        assert_eq!(
            spec(&[], MAX_OUTPUT_BYTES + 1).check(),
            Err(OutputSpecError::TooManyBytes)
        );
        let many = ["a"; MAX_OUTPUT_PATTERNS + 1];
        assert_eq!(
            spec(&many, 1).check(),
            Err(OutputSpecError::TooManyPatterns)
        );
    }

    #[test]
    fn content_travels_as_base64_and_comes_back_unchanged() {
        let file = InputFile {
            path: "data.bin".into(),
            content: vec![0, 159, 146, 150, 255],
        };
        let json = serde_json::to_string(&file).unwrap();
        assert_eq!(json, r#"{"path":"data.bin","content":"AJ+Slv8="}"#);
        assert_eq!(serde_json::from_str::<InputFile>(&json).unwrap(), file);
        assert!(
            !format!("{file:?}").contains("159"),
            "Debug shows no content"
        );
    }
}
