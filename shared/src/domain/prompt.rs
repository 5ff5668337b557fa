//! Prompt composition: one provider prompt from script, style and keywords.
//!
//! The composed prompt is deterministic — the same request always yields the same
//! text — and has up to four paragraphs separated by blank lines, each present only
//! when its input is:
//!
//! ```text
//! Style: {style}.
//!
//! {script}
//!
//! Include: {keyword}, {keyword}.
//!
//! Avoid: {negative keyword}, {negative keyword}.
//! ```
//!
//! For a model with a negative-prompt field the caller passes no `avoid` here: the
//! negative keywords go in that field instead ([`negative_prompt`]).
//!
//! Inputs are trimmed; keywords are de-duplicated case-insensitively keeping the first
//! spelling and order; a trailing full stop on the style is not doubled. A caller who
//! sends `prompt` bypasses all of this: it reaches the provider verbatim.

/// Compose the provider prompt.
pub fn compose(script: &str, style: Option<&str>, keywords: &[String], avoid: &[String]) -> String {
    let mut parts: Vec<String> = Vec::with_capacity(4);
    if let Some(style) = style.map(str::trim).filter(|s| !s.is_empty()) {
        parts.push(format!("Style: {}.", style.trim_end_matches('.')));
    }
    let script = script.trim();
    if !script.is_empty() {
        parts.push(script.to_string());
    }
    if let Some(list) = join_unique(keywords) {
        parts.push(format!("Include: {list}."));
    }
    if let Some(list) = join_unique(avoid) {
        parts.push(format!("Avoid: {list}."));
    }
    parts.join("\n\n")
}

/// The provider's negative-prompt field, for a model that has one: the negative
/// keywords, de-duplicated like the composed prompt's "Avoid" line.
pub fn negative_prompt(avoid: &[String]) -> String {
    join_unique(avoid).unwrap_or_default()
}

fn join_unique(words: &[String]) -> Option<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut kept: Vec<&str> = Vec::new();
    for word in words.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
        let folded = word.to_lowercase();
        if !seen.contains(&folded) {
            seen.push(folded);
            kept.push(word);
        }
    }
    (!kept.is_empty()).then(|| kept.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn the_negative_prompt_field_lists_each_word_once() {
        assert_eq!(
            negative_prompt(&v(&["Blur", " blur ", "text"])),
            "Blur, text"
        );
        assert_eq!(negative_prompt(&[]), "");
    }

    /// script, style, keywords, negative keywords, expected prompt
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        &'a [&'a str],
        &'a [&'a str],
        &'a str,
    );

    #[test]
    fn what_the_provider_receives() {
        let table: &[Case] = &[
            ("A fox runs.", None, &[], &[], "A fox runs."),
            (
                "A fox runs.",
                Some("cinematic"),
                &[],
                &[],
                "Style: cinematic.\n\nA fox runs.",
            ),
            (
                "  A fox runs.  ",
                Some(" anime. "),
                &["snow", "dusk"],
                &["text", "logos"],
                "Style: anime.\n\nA fox runs.\n\nInclude: snow, dusk.\n\nAvoid: text, logos.",
            ),
            (
                "A fox.",
                Some("   "),
                &["Snow", "snow ", "", "SNOW", "dusk"],
                &[],
                "A fox.\n\nInclude: Snow, dusk.",
            ),
            ("A fox.", None, &[], &["blur"], "A fox.\n\nAvoid: blur."),
        ];
        for (script, style, kw, neg, expected) in table {
            assert_eq!(compose(script, *style, &v(kw), &v(neg)), *expected);
        }
    }

    #[test]
    fn composition_is_deterministic() {
        let a = compose("x", Some("y"), &v(&["a", "b"]), &v(&["c"]));
        let b = compose("x", Some("y"), &v(&["a", "b"]), &v(&["c"]));
        assert_eq!(a, b);
    }

    #[test]
    fn multi_line_scripts_keep_their_lines() {
        assert_eq!(
            compose("Scene 1.\nScene 2.", None, &[], &[]),
            "Scene 1.\nScene 2."
        );
    }
}
