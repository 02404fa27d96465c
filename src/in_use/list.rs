//! List files: image URIs one per line (`#` comments, blank lines ignored), or a JSON
//! array of image URI strings (as ecrm's scanner writes).

use serde_json::value::RawValue;

use super::reference::{ReferenceError, parse_reference};
use super::{ImageUse, SourceKind, UseSite};

/// Why a list file cannot be read.
pub type ListError = super::SourceSyntaxError;

/// Every ECR image of the list in `text`. `file` is the file as shown. Entries of
/// other registries are left out; an entry that names an ECR registry but is
/// malformed is an error, as is JSON that is not an array of strings.
pub fn image_list(text: &str, file: &str) -> Result<Vec<ImageUse>, ListError> {
    if text.trim_start().starts_with('[') {
        json_list(text, file)
    } else {
        line_list(text, file)
    }
}

fn line_list(text: &str, file: &str) -> Result<Vec<ImageUse>, ListError> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = u32::try_from(n + 1).unwrap_or(u32::MAX);
        // A comment starts a line, or follows white space.
        let entry = match raw.find(" #").or_else(|| raw.find("\t#")) {
            Some(i) => &raw[..i],
            None => raw,
        }
        .trim();
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        push(&mut out, entry, file, line)?;
    }
    Ok(out)
}

fn json_list(text: &str, file: &str) -> Result<Vec<ImageUse>, ListError> {
    let syntax = |e: serde_json::Error| ListError {
        line: u32::try_from(e.line()).ok().filter(|&l| l > 0),
        column: u32::try_from(e.column()).ok().filter(|&c| c > 0),
        message: format!("not a JSON array of image URIs: {e}"),
    };
    let items: Vec<&RawValue> = serde_json::from_str(text).map_err(syntax)?;
    let index = crate::text::LineIndex::new(text);
    let mut out = Vec::new();
    for item in items {
        // The raw value is a slice of `text`: its offset gives its line.
        let offset = item.get().as_ptr() as usize - text.as_ptr() as usize;
        let (line, column) = index.position(offset);
        let entry: String = serde_json::from_str(item.get()).map_err(|_| ListError {
            line: Some(line),
            column: Some(column),
            message: format!(
                "`{}` is not a string: the list holds image URIs",
                item.get()
            ),
        })?;
        push(&mut out, &entry, file, line)?;
    }
    Ok(out)
}

fn push(out: &mut Vec<ImageUse>, entry: &str, file: &str, line: u32) -> Result<(), ListError> {
    match parse_reference(entry) {
        Ok(image) => {
            out.push(ImageUse {
                image,
                site: UseSite {
                    account: None,
                    source: SourceKind::List,
                    file: Some(file.to_owned()),
                    line: Some(line),
                    pod: None,
                    container: None,
                    region: None,
                    cluster: None,
                    resource: None,
                    reference: entry.to_owned(),
                },
            });
            Ok(())
        }
        Err(ReferenceError::NotEcr) => Ok(()),
        Err(ReferenceError::Invalid(why)) => Err(ListError {
            line: Some(line),
            column: None,
            message: format!("`{entry}` is not a valid ECR image reference: {why}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

    fn names(uses: &[ImageUse]) -> Vec<(String, u32)> {
        uses.iter()
            .map(|u| (u.site.reference.clone(), u.site.line.unwrap()))
            .collect()
    }

    #[test]
    fn lines_with_comments() {
        let text = format!(
            "# in use\n{HOST}/app:v1\n\n  {HOST}/bob:v2   # pinned\nnginx:1.25\npublic.ecr.aws/xy/yy:z\n"
        );
        let uses = image_list(&text, "l.txt").unwrap();
        assert_eq!(
            names(&uses),
            [
                (format!("{HOST}/app:v1"), 2),
                (format!("{HOST}/bob:v2"), 4),
                ("public.ecr.aws/xy/yy:z".to_owned(), 6)
            ]
        );
        assert_eq!(uses[0].site.to_string(), "l.txt:2");
    }

    #[test]
    fn a_json_array_of_strings() {
        let text = format!("[\n  \"{HOST}/app:v1\",\n  \"ghcr.io/x:y\",\n  \"{HOST}/bob:v2\"\n]");
        let uses = image_list(&text, "l.json").unwrap();
        assert_eq!(
            names(&uses),
            [(format!("{HOST}/app:v1"), 2), (format!("{HOST}/bob:v2"), 4)]
        );
    }

    #[test]
    fn malformed_lists_are_errors_with_their_line() {
        let e = image_list(&format!("{HOST}/app:v1\n{HOST}/app:${{TAG}}\n"), "l").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = image_list("[\"x\",\n 3]", "l").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(image_list("[\"x\"", "l").is_err());
        assert!(image_list("[{\"image\": \"x\"}]", "l").is_err());
    }
}
