//! The Redis key of a limiter key: `NAMESPACE:{KEY}`.
//!
//! The braces are a Redis Cluster hash tag: every Redis key the limiter keeps for one limiter
//! key hashes on `KEY` alone, so they share one slot and one script can touch them all.
//! Braces and `%` inside the namespace or the key are percent-encoded, so that a key can
//! neither end the tag early nor collide with another key's encoding.

/// Percent-encodes `%`, `{` and `}`.
fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
}

/// The Redis key holding `key`'s rate state under `namespace`.
pub(crate) fn state_key(namespace: &str, key: &str) -> String {
    let mut out = String::with_capacity(namespace.len() + key.len() + 3);
    escape(namespace, &mut out);
    out.push_str(":{");
    escape(key, &mut out);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::state_key;

    #[test]
    fn one_hash_tag_per_key() {
        assert_eq!(
            state_key("app", "https://api.example.com"),
            "app:{https://api.example.com}"
        );
        // A key with braces cannot close the tag early, nor look like another key.
        assert_eq!(state_key("a{b", "x}y%"), "a%7Bb:{x%7Dy%25}");
        assert_ne!(state_key("a", "%7B"), state_key("a", "{"));
    }
}
