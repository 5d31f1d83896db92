//! Splits one logical scenario line into tokens.

use alloc::string::String;
use alloc::vec::Vec;

/// One token of a step line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A quoted string, escapes resolved.
    Str(Vec<u8>),
    /// A bare word: letters, digits and `_ - / @ : +`.
    Word(String),
    /// `$name`.
    Var(String),
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `,`
    Comma,
    /// `[`
    LBrack,
    /// `]`
    RBrack,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `;`
    Semi,
    /// `=`
    Eq,
    /// `|`
    Pipe,
    /// `..`
    DotDot,
}

impl Tok {
    /// How the token is called in error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Str(_) => String::from("a string"),
            Tok::Word(w) => alloc::format!("'{w}'"),
            Tok::Var(v) => alloc::format!("'${v}'"),
            Tok::LParen => String::from("'('"),
            Tok::RParen => String::from("')'"),
            Tok::Comma => String::from("','"),
            Tok::LBrack => String::from("'['"),
            Tok::RBrack => String::from("']'"),
            Tok::LBrace => String::from("'{'"),
            Tok::RBrace => String::from("'}'"),
            Tok::Semi => String::from("';'"),
            Tok::Eq => String::from("'='"),
            Tok::Pipe => String::from("'|'"),
            Tok::DotDot => String::from("'..'"),
        }
    }
}

/// True for the characters of a bare word.
pub(crate) fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '@' | ':' | '+')
}

/// The line without its `#` comment (a `#` inside a string does not start
/// one), trimmed.
pub(crate) fn strip_comment(line: &str) -> &str {
    let mut in_str = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
        } else if c == '#' {
            return line.get(..i).unwrap_or("").trim();
        }
    }
    line.trim()
}

fn hex_val(c: char) -> Option<u8> {
    c.to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Tokenises a comment-free line.
pub(crate) fn lex(line: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut it = line.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            ' ' | '\t' | '\r' => {}
            '(' => out.push(Tok::LParen),
            ')' => out.push(Tok::RParen),
            ',' => out.push(Tok::Comma),
            '[' => out.push(Tok::LBrack),
            ']' => out.push(Tok::RBrack),
            '{' => out.push(Tok::LBrace),
            '}' => out.push(Tok::RBrace),
            ';' => out.push(Tok::Semi),
            '=' => out.push(Tok::Eq),
            '|' => out.push(Tok::Pipe),
            '.' => {
                if it.peek() == Some(&'.') {
                    it.next();
                    out.push(Tok::DotDot);
                } else {
                    return Err(String::from("a single '.' (did you mean '..'?)"));
                }
            }
            '$' => {
                let mut name = String::new();
                while let Some(&d) = it.peek() {
                    if d.is_ascii_alphanumeric() || d == '_' {
                        name.push(d);
                        it.next();
                    } else {
                        break;
                    }
                }
                if name.is_empty() {
                    return Err(String::from("'$' without a variable name"));
                }
                out.push(Tok::Var(name));
            }
            '"' => {
                let mut bytes = Vec::new();
                let mut closed = false;
                while let Some(d) = it.next() {
                    match d {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => {
                            let e = it.next().ok_or_else(|| String::from("unterminated string"))?;
                            match e {
                                '0' => bytes.push(0),
                                'n' => bytes.push(b'\n'),
                                't' => bytes.push(b'\t'),
                                'r' => bytes.push(b'\r'),
                                '\\' => bytes.push(b'\\'),
                                '"' => bytes.push(b'"'),
                                'x' => {
                                    let h = it.next().and_then(hex_val);
                                    let l = it.next().and_then(hex_val);
                                    match (h, l) {
                                        (Some(h), Some(l)) => bytes.push(h << 4 | l),
                                        _ => return Err(String::from("'\\x' needs two hex digits")),
                                    }
                                }
                                other => return Err(alloc::format!("unknown escape '\\{other}'")),
                            }
                        }
                        other => {
                            let mut b = [0u8; 4];
                            bytes.extend_from_slice(other.encode_utf8(&mut b).as_bytes());
                        }
                    }
                }
                if !closed {
                    return Err(String::from("unterminated string"));
                }
                out.push(Tok::Str(bytes));
            }
            c if word_char(c) => {
                let mut w = String::new();
                w.push(c);
                while let Some(&d) = it.peek() {
                    if word_char(d) {
                        w.push(d);
                        it.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Word(w));
            }
            other => return Err(alloc::format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

/// Bytes as a double-quoted string with C escapes (`\0`, `\n`, `\xNN`): the
/// inverse of the lexer's string tokens.
pub fn quote(b: &[u8]) -> String {
    let mut s = alloc::string::String::from("\"");
    for &c in b {
        match c {
            0 => s.push_str("\\0"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&alloc::format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_words() {
        let t = lex(r#"write A msg(READ, 0x1, 0, "a\0\x41\"")[0..5] $tx1"#).unwrap();
        assert_eq!(t[0], Tok::Word("write".into()));
        assert_eq!(t[3], Tok::LParen);
        assert!(t.contains(&Tok::Str(b"a\0A\"".to_vec())));
        assert!(t.contains(&Tok::DotDot));
        assert_eq!(t.last(), Some(&Tok::Var("tx1".into())));
        assert!(lex("\"abc").is_err());
        assert!(lex("\"\\q\"").is_err());
        assert!(lex("a . b").is_err());
        assert!(lex("$").is_err());
        assert!(lex("é").is_err());
    }

    #[test]
    fn comments() {
        assert_eq!(strip_comment("  write A \"#x\" # c "), "write A \"#x\"");
        assert_eq!(strip_comment("# all"), "");
        assert_eq!(strip_comment("\"a\\\"#\" #"), "\"a\\\"#\"");
    }
}
