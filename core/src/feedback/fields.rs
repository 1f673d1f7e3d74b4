//! A tolerant reader for the structured-field lists and dictionaries (RFC 9651) used by the
//! `RateLimit` and `RateLimit-Policy` fields.
//!
//! It reads only what those fields need: members separated by commas, each either an item
//! (`"name"`, `token`, `100`) or a dictionary entry (`limit=100`), followed by `;key=value`
//! parameters. Commas and semicolons inside quoted strings are respected. It never fails: a
//! member it cannot make sense of is simply not what the caller is looking for.

/// Splits a string at an ASCII separator, skipping separators inside double-quoted strings.
#[derive(Debug, Clone)]
pub(crate) struct Split<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> Split<'a> {
    pub(crate) fn new(s: &'a str, sep: u8) -> Split<'a> {
        Split { rest: Some(s), sep }
    }

    /// What has not been returned yet (empty once exhausted).
    pub(crate) fn remainder(&self) -> &'a str {
        self.rest.unwrap_or("")
    }
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        let mut in_string = false;
        let mut escaped = false;
        for (i, b) in s.bytes().enumerate() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
            } else if b == b'"' {
                in_string = true;
            } else if b == self.sep {
                // `sep` is ASCII, so `i` and `i + 1` are character boundaries.
                self.rest = Some(&s[i + 1..]);
                return Some(&s[..i]);
            }
        }
        self.rest = None;
        Some(s)
    }
}

/// One list member or dictionary entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Member<'a> {
    /// The dictionary key, for `key=value` members.
    pub(crate) key: Option<&'a str>,
    /// The item (or the dictionary value), trimmed, quotes kept.
    pub(crate) item: &'a str,
    /// The raw parameters after the first `;`.
    params: &'a str,
}

impl<'a> Member<'a> {
    fn parse(raw: &'a str) -> Member<'a> {
        let mut parts = Split::new(raw.trim(), b';');
        let head = parts.next().unwrap_or("").trim();
        let params = parts.remainder();
        if !head.starts_with('"') {
            if let Some((key, value)) = head.split_once('=') {
                return Member {
                    key: Some(key.trim()),
                    item: value.trim(),
                    params,
                };
            }
        }
        Member {
            key: None,
            item: head,
            params,
        }
    }

    /// The raw value of parameter `name` (case-insensitive), `"?1"` for a bare flag.
    pub(crate) fn param(&self, name: &str) -> Option<&'a str> {
        Split::new(self.params, b';').find_map(|p| {
            let p = p.trim();
            let (key, value) = p.split_once('=').unwrap_or((p, "?1"));
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }

    /// The item with surrounding double quotes removed (for comparing policy names).
    pub(crate) fn name(&self) -> &'a str {
        unquote(self.item)
    }
}

/// `s` without one pair of surrounding double quotes.
pub(crate) fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(s)
}

/// The members of a comma-separated field value.
pub(crate) fn members(s: &str) -> impl Iterator<Item = Member<'_>> {
    Split::new(s, b',')
        .filter(|m| !m.trim().is_empty())
        .map(Member::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_of_items_with_params() {
        let v = r#""burst";q=100;w=60, "daily" ; q=1000 ; w=86400;comment="a,b;c""#;
        let mut it = members(v);
        let a = it.next().unwrap();
        assert_eq!((a.key, a.name()), (None, "burst"));
        assert_eq!((a.param("q"), a.param("W")), (Some("100"), Some("60")));
        let b = it.next().unwrap();
        assert_eq!(b.name(), "daily");
        assert_eq!(b.param("w"), Some("86400"));
        assert_eq!(b.param("comment"), Some(r#""a,b;c""#));
        assert_eq!(b.param("pk"), None);
        assert!(it.next().is_none());
    }

    #[test]
    fn dictionary_and_integer_items() {
        let d: [Member<'_>; 3] = {
            let mut it = members("limit=100, remaining = 50 ,reset=5;x");
            [it.next().unwrap(), it.next().unwrap(), it.next().unwrap()]
        };
        assert_eq!((d[0].key, d[0].item), (Some("limit"), "100"));
        assert_eq!((d[1].key, d[1].item), (Some("remaining"), "50"));
        assert_eq!(
            (d[2].key, d[2].item, d[2].param("x")),
            (Some("reset"), "5", Some("?1"))
        );
        let p = members("100;w=60,,1000;w=3600").collect::<std::vec::Vec<_>>();
        assert_eq!(p.len(), 2);
        assert_eq!((p[1].item, p[1].param("w")), ("1000", Some("3600")));
    }

    #[test]
    fn unterminated_and_odd_input() {
        assert_eq!(members(r#""abc;q=1, w=2"#).count(), 1);
        assert_eq!(
            members(r#""a\"b";q=1"#).next().unwrap().param("q"),
            Some("1")
        );
        assert_eq!(members("").count(), 0);
        assert_eq!(members(" , ,").count(), 0);
        assert_eq!(members("é=ü;ñ").next().unwrap().key, Some("é"));
        assert_eq!(unquote("\""), "\"");
    }
}
