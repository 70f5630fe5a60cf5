//! Shell quoting: the one place that turns a word into something a POSIX
//! shell reads back unchanged. Every command coldspare builds for a node
//! quotes its words here, never by hand.

/// Single-quotes `s` for a POSIX shell (`it's` becomes `'it'\''s'`).
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_every_word_so_sh_reads_it_back() {
        for word in ["plain", "two words", "it's", "$HOME", "a\nb", "", "'"] {
            let spec = crate::agent::protocol::ExecSpec::new(format!("printf %s {}", quote(word)));
            let out = crate::exec::run(&spec);
            assert_eq!(out.stdout, word, "{out:?}");
        }
    }
}
