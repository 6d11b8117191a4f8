//! [`extract_code`]: finding the program in a model's answer, with its explanation kept apart.
//!
//! Models are asked for one fenced block but do not always comply: they add prose, use `~~~`,
//! tag the block `py` or nothing, send several blocks (an example output, a shell command),
//! stop before the closing fence, or answer with bare code. The rules, in order:
//!
//! 1. the first non-empty fenced block whose info string names the language
//!    (`python`/`py`/`python3`, `javascript`/`js`/`node`, ...);
//! 2. else the first non-empty fenced block, whatever its info string;
//! 3. else, with no fence at all, the whole answer is the code and there is no explanation.
//!
//! Fences follow CommonMark: three or more backticks or tildes, closed by a line of at least as
//! many of the same character; an unclosed block runs to the end of the answer. CRLF line
//! endings are normalised to LF.

use sha2::{Digest, Sha256};

/// The program and the prose around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The program, without leading blank lines or trailing whitespace.
    pub code: String,
    /// The answer's text outside the chosen block, trimmed (empty for a bare-code answer).
    pub explanation: String,
}

/// The lowercase hex SHA-256 of a program, for audit rows that must not hold the code itself.
pub fn code_sha256(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

/// A fenced block, as line indices into the answer.
#[derive(Debug)]
struct Block {
    open: usize,
    /// `None` when the answer ends before the closing fence.
    close: Option<usize>,
    indent: usize,
    tag: String,
}

/// The family a language name or fence tag belongs to, so aliases match each other.
fn family(name: &str) -> &str {
    match name {
        "python" | "python3" | "py" | "py3" => "python",
        "javascript" | "js" | "node" | "nodejs" | "mjs" | "cjs" => "javascript",
        other => other,
    }
}

/// `(fence char, fence length, indent, tag)` when `line` opens a fenced block.
fn opening_fence(line: &str) -> Option<(char, usize, usize, String)> {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let fence_char = trimmed.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let length = trimmed.chars().take_while(|c| *c == fence_char).count();
    if length < 3 {
        return None;
    }
    let info = trimmed[length..].trim();
    // CommonMark: a backtick fence's info string has no backticks (that is inline code).
    if fence_char == '`' && info.contains('`') {
        return None;
    }
    let tag = info
        .trim_start_matches(['{', '.'])
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '{' | '}'))
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    Some((fence_char, length, indent, tag))
}

fn closes(line: &str, fence_char: char, length: usize) -> bool {
    let trimmed = line.trim();
    trimmed.len() >= length && trimmed.chars().all(|c| c == fence_char)
}

fn find_blocks(lines: &[&str]) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some((fence_char, length, indent, tag)) = opening_fence(lines[i]) else {
            i += 1;
            continue;
        };
        let close = (i + 1..lines.len()).find(|&j| closes(lines[j], fence_char, length));
        blocks.push(Block {
            open: i,
            close,
            indent,
            tag,
        });
        i = close.map_or(lines.len(), |c| c + 1);
    }
    blocks
}

/// The block's content, with the fence's own indentation removed from each line.
fn content(lines: &[&str], block: &Block) -> String {
    let end = block.close.unwrap_or(lines.len());
    let body: Vec<&str> = lines[block.open + 1..end]
        .iter()
        .map(|line| {
            let removable = line.len() - line.trim_start_matches(' ').len();
            &line[removable.min(block.indent)..]
        })
        .collect();
    let text = body.join("\n");
    let text = text.trim_end();
    // Drop leading blank lines but keep the first code line's indentation.
    let start = text
        .find(|c: char| !c.is_whitespace())
        .map_or(text.len(), |first| {
            text[..first].rfind('\n').map_or(0, |nl| nl + 1)
        });
    text[start..].to_owned()
}

fn explanation(lines: &[&str], block: &Block) -> String {
    let before = lines[..block.open].join("\n");
    let after = block
        .close
        .map(|close| lines[close + 1..].join("\n"))
        .unwrap_or_default();
    let parts: Vec<&str> = [before.trim(), after.trim()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect();
    parts.join("\n\n")
}

/// Splits a model's answer into the program for `language` and the explanation around it.
pub fn extract_code(answer: &str, language: &str) -> Extracted {
    let normalised = answer.replace("\r\n", "\n");
    let lines: Vec<&str> = normalised.split('\n').collect();
    let blocks = find_blocks(&lines);
    let wanted = family(&language.trim().to_ascii_lowercase()).to_owned();
    let non_empty = |block: &&Block| !content(&lines, block).is_empty();
    let chosen = blocks
        .iter()
        .filter(non_empty)
        .find(|block| !block.tag.is_empty() && family(&block.tag) == wanted)
        .or_else(|| blocks.iter().find(non_empty))
        .or_else(|| blocks.first());
    match chosen {
        Some(block) => Extracted {
            code: content(&lines, block),
            explanation: explanation(&lines, block),
        },
        None => Extracted {
            code: normalised.trim().to_owned(),
            explanation: String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::a_python_block_with_prose_around_it(
        "Here is the program:\n```python\nprint('hi')\n```\nIt prints hi.",
        "python",
        "print('hi')",
        "Here is the program:\n\nIt prints hi."
    )]
    #[case::crlf_line_endings(
        "Sure.\r\n```py\r\nx = 1\r\nprint(x)\r\n```\r\n",
        "python",
        "x = 1\nprint(x)",
        "Sure."
    )]
    #[case::the_block_in_the_language_wins_over_an_earlier_one(
        "Install:\n```bash\npip install x\n```\nThen:\n```python3\nimport x\n```",
        "python",
        "import x",
        "Install:\n```bash\npip install x\n```\nThen:"
    )]
    #[case::javascript_aliases_match(
        "```text\nout\n```\n```node\nconsole.log(1)\n```",
        "javascript",
        "console.log(1)",
        "```text\nout\n```"
    )]
    #[case::js_request_matches_a_javascript_tag(
        "```javascript\nconsole.log(2)\n```",
        "js",
        "console.log(2)",
        ""
    )]
    #[case::an_untagged_block_is_taken_when_none_matches(
        "Code:\n```\nprint(1)\n```",
        "python",
        "print(1)",
        "Code:"
    )]
    #[case::tilde_fences("~~~python\nprint(3)\n~~~\ndone", "python", "print(3)", "done")]
    #[case::an_unterminated_final_fence_runs_to_the_end(
        "Here:\n```python\nfor i in range(3):\n    print(i)\n",
        "python",
        "for i in range(3):\n    print(i)",
        "Here:"
    )]
    #[case::bare_code_is_the_whole_answer(
        "\n\nimport sys\nprint(sys.version)\n\n",
        "python",
        "import sys\nprint(sys.version)",
        ""
    )]
    #[case::a_longer_fence_can_hold_a_shorter_one(
        "````python\ns = '''\n```\n'''\nprint(s)\n````",
        "python",
        "s = '''\n```\n'''\nprint(s)",
        ""
    )]
    #[case::indentation_inside_the_block_is_kept(
        "```python\n\n    x = 1\n  \n```",
        "python",
        "    x = 1",
        ""
    )]
    #[case::an_indented_fence_is_dedented(
        "1. Run this:\n   ```python\n   if True:\n       print(1)\n   ```",
        "python",
        "if True:\n    print(1)",
        "1. Run this:"
    )]
    #[case::an_empty_matching_block_is_skipped(
        "```python\n```\n```py\nprint(4)\n```",
        "python",
        "print(4)",
        "```python\n```"
    )]
    #[case::inline_triple_backticks_are_not_a_fence(
        "Use ```print``` like so:\n```python\nprint(5)\n```",
        "python",
        "print(5)",
        "Use ```print``` like so:"
    )]
    #[case::an_info_string_with_attributes(
        "```{.python title=\"x\"}\nprint(6)\n```",
        "python",
        "print(6)",
        ""
    )]
    fn extraction_follows_the_documented_rules(
        #[case] answer: &str,
        #[case] language: &str,
        #[case] code: &str,
        #[case] explanation: &str,
    ) {
        let extracted = extract_code(answer, language);
        assert_eq!(extracted.code, code);
        assert_eq!(extracted.explanation, explanation);
    }

    #[test]
    fn an_answer_with_only_an_empty_block_yields_empty_code() {
        let extracted = extract_code("Sorry, I cannot.\n```python\n```", "python");
        assert_eq!(extracted.code, "");
        assert_eq!(extracted.explanation, "Sorry, I cannot.");
    }

    #[test]
    fn the_code_hash_is_lowercase_hex_sha256() {
        assert_eq!(
            code_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
