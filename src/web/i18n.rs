//! Translations with Fluent. Swedish is the default; English (and, where an
//! issue asks, Norwegian) follow. Message files live in `locales/` and are
//! compiled into the binary.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Sv,
    En,
    Nb,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Sv, Lang::En, Lang::Nb];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Sv => "sv",
            Lang::En => "en",
            Lang::Nb => "nb",
        }
    }

    /// The language's own name, for the language switcher.
    pub fn endonym(self) -> &'static str {
        match self {
            Lang::Sv => "Svenska",
            Lang::En => "English",
            Lang::Nb => "Norsk bokmål",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "sv" => Some(Lang::Sv),
            "en" => Some(Lang::En),
            "nb" | "no" => Some(Lang::Nb),
            _ => None,
        }
    }
}

pub struct I18n {
    bundles: Vec<(Lang, FluentBundle<FluentResource>)>,
}

const SOURCES: [(Lang, &str); 3] = [
    (Lang::Sv, include_str!("../../locales/sv.ftl")),
    (Lang::En, include_str!("../../locales/en.ftl")),
    (Lang::Nb, include_str!("../../locales/nb.ftl")),
];

impl I18n {
    pub fn load() -> anyhow::Result<I18n> {
        let mut bundles = Vec::new();
        for (lang, src) in SOURCES {
            let res = FluentResource::try_new(src.to_string()).map_err(|(_, errs)| anyhow::anyhow!("{}.ftl: {errs:?}", lang.code()))?;
            let id: LanguageIdentifier = lang.code().parse()?;
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            // Isolation marks around arguments confuse screen readers and copy-paste.
            bundle.set_use_isolating(false);
            bundle.add_resource(res).map_err(|errs| anyhow::anyhow!("{}.ftl: {errs:?}", lang.code()))?;
            bundles.push((lang, bundle));
        }
        Ok(I18n { bundles })
    }

    fn bundle(&self, lang: Lang) -> Option<&FluentBundle<FluentResource>> {
        self.bundles.iter().find(|(l, _)| *l == lang).map(|(_, b)| b)
    }

    /// The message `key` in `lang`, falling back to Swedish, then to the key
    /// itself, so a missing translation shows up but never breaks a page.
    pub fn get(&self, lang: Lang, key: &str, args: Option<&FluentArgs>) -> String {
        for l in [lang, Lang::Sv] {
            if let Some(b) = self.bundle(l) {
                if let Some(pattern) = b.get_message(key).and_then(|m| m.value()) {
                    let mut errs = vec![];
                    return b.format_pattern(pattern, args, &mut errs).into_owned();
                }
            }
        }
        key.to_string()
    }

    pub fn keys(&self, lang: Lang) -> Vec<String> {
        let src = SOURCES.iter().find(|(l, _)| *l == lang).map(|(_, s)| *s).unwrap_or("");
        src.lines()
            .filter_map(|l| l.split_once(" ="))
            .map(|(k, _)| k.trim().to_string())
            .filter(|k| !k.is_empty() && !k.starts_with('#') && !k.starts_with(' '))
            .collect()
    }
}

/// A translator bound to one language, handed to templates as `t`.
#[derive(Clone)]
pub struct Tr {
    pub lang: Lang,
    i18n: std::sync::Arc<I18n>,
}

impl Tr {
    pub fn new(i18n: std::sync::Arc<I18n>, lang: Lang) -> Tr {
        Tr { lang, i18n }
    }

    pub fn get(&self, key: &str) -> String {
        self.i18n.get(self.lang, key, None)
    }

    pub fn with(&self, key: &str, name: &str, value: &str) -> String {
        self.with_all(key, &[(name, value)])
    }

    /// A message with several arguments, all passed as text.
    pub fn with_all(&self, key: &str, values: &[(&str, &str)]) -> String {
        let mut args = FluentArgs::new();
        for (name, value) in values {
            args.set(name.to_string(), FluentValue::from(value.to_string()));
        }
        self.i18n.get(self.lang, key, Some(&args))
    }

    /// The message for a code with a prefix, e.g. `pre("class-", "night")`.
    pub fn pre(&self, prefix: &str, code: &str) -> String {
        self.get(&format!("{prefix}{code}"))
    }

    pub fn code(&self) -> &'static str {
        self.lang.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_swedish_key() {
        let i18n = I18n::load().expect("locales parse");
        let sv = i18n.keys(Lang::Sv);
        for lang in [Lang::En, Lang::Nb] {
            let keys = i18n.keys(lang);
            let missing: Vec<_> = sv.iter().filter(|k| !keys.contains(k)).collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", lang.code());
        }
    }
}
