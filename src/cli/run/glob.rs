//! `--glob`: a small shell-style pattern matcher for the files found under directory inputs.
//!
//! Syntax (a subset of `.gitignore`/zsh globs, no dependency needed for it):
//!
//! | pattern | matches |
//! |---|---|
//! | `*` | any run of characters except `/` (also the empty run) |
//! | `?` | one character except `/` |
//! | `[abc]`, `[a-z]`, `[!a-z]` | one character of (not of) the class |
//! | `**` | as a whole path segment: zero or more directories |
//! | `\x` | the character `x` literally |
//!
//! A pattern without `/` is matched against the file name alone, at any depth (`*.mp4`); a
//! pattern with `/` is matched against the whole path relative to the directory input, with
//! `/` separators (`cam*/**/*.mkv`). Matching is case-sensitive.

/// Why a pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    /// The pattern is empty.
    #[error("empty --glob pattern")]
    Empty,
    /// A `[` has no closing `]`.
    #[error("--glob pattern {pattern:?}: unclosed character class '['")]
    UnclosedClass {
        /// The pattern.
        pattern: String,
    },
    /// The pattern ends with a lone `\`.
    #[error("--glob pattern {pattern:?}: ends with an escape character '\\'")]
    DanglingEscape {
        /// The pattern.
        pattern: String,
    },
}

/// One element of a path segment pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A literal character.
    Char(char),
    /// `?`.
    Any,
    /// `*`.
    Star,
    /// `[...]`: inclusive ranges (a single character is a range of one), negated or not.
    Class { ranges: Vec<(char, char)>, negated: bool },
}

/// One `/`-separated segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`.
    AnyDirs,
    /// Anything else.
    Tokens(Vec<Token>),
}

/// A compiled `--glob` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    segments: Vec<Segment>,
    /// True when the pattern has no `/`: it matches the file name at any depth.
    name_only: bool,
}

impl Glob {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Result<Self, GlobError> {
        let trimmed = pattern.trim_start_matches("./");
        if trimmed.is_empty() {
            return Err(GlobError::Empty);
        }
        let name_only = !trimmed.contains('/');
        let segments = trimmed
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| if s == "**" { Ok(Segment::AnyDirs) } else { tokens(s, pattern).map(Segment::Tokens) })
            .collect::<Result<Vec<_>, _>>()?;
        if segments.is_empty() {
            return Err(GlobError::Empty);
        }
        Ok(Self { segments, name_only })
    }

    /// Whether the file at `relative` (path under the directory input, `/`-separated) matches.
    pub fn matches(&self, relative: &str) -> bool {
        let parts: Vec<&str> = relative.split('/').filter(|s| !s.is_empty()).collect();
        if self.name_only {
            return parts.last().is_some_and(|name| match_path(&self.segments, &[name]));
        }
        match_path(&self.segments, &parts)
    }
}

fn tokens(segment: &str, pattern: &str) -> Result<Vec<Token>, GlobError> {
    let mut out = Vec::new();
    let mut chars = segment.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                // `a**b` inside a segment is the same as `a*b`.
                if out.last() != Some(&Token::Star) {
                    out.push(Token::Star);
                }
            }
            '?' => out.push(Token::Any),
            '\\' => match chars.next() {
                Some(x) => out.push(Token::Char(x)),
                None => return Err(GlobError::DanglingEscape { pattern: pattern.to_owned() }),
            },
            '[' => {
                let negated = chars.next_if(|&x| x == '!' || x == '^').is_some();
                let mut ranges = Vec::new();
                let mut closed = false;
                let mut first = true;
                while let Some(x) = chars.next() {
                    if x == ']' && !first {
                        closed = true;
                        break;
                    }
                    first = false;
                    let lo = if x == '\\' { chars.next().ok_or_else(|| GlobError::DanglingEscape { pattern: pattern.to_owned() })? } else { x };
                    if chars.peek() == Some(&'-') {
                        let mut ahead = chars.clone();
                        ahead.next();
                        if let Some(hi) = ahead.next().filter(|&h| h != ']') {
                            chars = ahead;
                            ranges.push((lo, hi));
                            continue;
                        }
                    }
                    ranges.push((lo, lo));
                }
                if !closed {
                    return Err(GlobError::UnclosedClass { pattern: pattern.to_owned() });
                }
                out.push(Token::Class { ranges, negated });
            }
            other => out.push(Token::Char(other)),
        }
    }
    Ok(out)
}

fn match_path(segments: &[Segment], parts: &[&str]) -> bool {
    match segments.split_first() {
        None => parts.is_empty(),
        Some((Segment::AnyDirs, rest)) => (0..=parts.len()).any(|skip| match_path(rest, &parts[skip..])),
        Some((Segment::Tokens(t), rest)) => parts.split_first().is_some_and(|(first, more)| {
            let name: Vec<char> = first.chars().collect();
            match_segment(t, &name) && match_path(rest, more)
        }),
    }
}

/// Matches one segment; `*` backtracks to the last star only (linear in practice).
fn match_segment(tokens: &[Token], name: &[char]) -> bool {
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, n));
                t += 1;
                continue;
            }
            Some(tok) if single(tok, name[n]) => {
                t += 1;
                n += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((st, sn)) => {
                t = st + 1;
                n = sn + 1;
                star = Some((st, sn + 1));
            }
            None => return false,
        }
    }
    tokens[t.min(tokens.len())..].iter().all(|x| *x == Token::Star)
}

fn single(token: &Token, c: char) -> bool {
    match token {
        Token::Char(x) => *x == c,
        Token::Any => true,
        Token::Star => false,
        Token::Class { ranges, negated } => ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c)) != *negated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str) -> bool {
        Glob::new(p).unwrap().matches(path)
    }

    #[test]
    fn star_and_question_mark_stay_within_a_segment() {
        assert!(m("*.mp4", "a.mp4"));
        assert!(m("*.mp4", "deep/er/a.mp4"), "no slash: matches the name at any depth");
        assert!(!m("*.mp4", "a.mkv"));
        assert!(!m("*.mp4", "a.mp4.part"));
        assert!(m("cam?.mkv", "cam1.mkv"));
        assert!(!m("cam?.mkv", "cam12.mkv"));
        assert!(m("*", "x"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("cam*/*.mkv", "cam1/a.mkv"));
        assert!(!m("cam*/*.mkv", "cam1/x/a.mkv"), "* does not cross /");
        assert!(!m("cam*/*.mkv", "a.mkv"));
    }

    #[test]
    fn double_star_matches_zero_or_more_directories() {
        for path in ["cam1/a.mkv", "cam1/2024/a.mkv", "cam1/2024/05/a.mkv"] {
            assert!(m("cam*/**/*.mkv", path), "{path}");
        }
        assert!(!m("cam*/**/*.mkv", "other/2024/a.mkv"));
        assert!(!m("cam*/**/*.mkv", "cam1/2024/a.mp4"));
        assert!(m("**/*.mp4", "a.mp4"));
        assert!(m("**/x/*.mp4", "a/b/x/c.mp4"));
        assert!(m("cam1/**", "cam1/a/b.mp4"));
        assert!(m("./*.mp4", "a.mp4"));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(m("cam[12].mp4", "cam2.mp4"));
        assert!(!m("cam[12].mp4", "cam3.mp4"));
        assert!(m("cam[0-9].mp4", "cam7.mp4"));
        assert!(m("cam[!0-9].mp4", "camX.mp4"));
        assert!(!m("cam[!0-9].mp4", "cam7.mp4"));
        assert!(m("[]x].mp4", "].mp4"), "a leading ] is literal");
        assert!(m("a[-z]", "a-"), "a leading or trailing - is literal");
        assert!(m(r"what\?.mp4", "what?.mp4"));
        assert!(!m(r"what\?.mp4", "whatX.mp4"));
        assert!(m("vidéo *.mp4", "vidéo du matin.mp4"));
    }

    #[test]
    fn bad_patterns_are_errors() {
        assert_eq!(Glob::new(""), Err(GlobError::Empty));
        assert!(matches!(Glob::new("cam[12.mp4"), Err(GlobError::UnclosedClass { .. })));
        assert!(matches!(Glob::new(r"a\"), Err(GlobError::DanglingEscape { .. })));
    }
}
