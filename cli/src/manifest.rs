//! Reading objects from `-f` arguments: files, directories (their .yaml, .yml and .json files) and
//! `-` for stdin; multi-document YAML and `kind: List` are split into single objects.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::error::CliError;

/// One object and where it came from (`pod.yaml`, or `STDIN`).
#[derive(Debug, Clone)]
pub struct Manifest {
    pub source: String,
    pub object: Value,
}

pub fn read_all(filenames: &[String]) -> Result<Vec<Manifest>, CliError> {
    let mut out = Vec::new();
    for f in filenames {
        if f == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?;
            out.extend(parse("STDIN", &text)?);
            continue;
        }
        let path = Path::new(f);
        if path.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| CliError::usage(format!("cannot read {f}: {e}")))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
                })
                .collect();
            files.sort();
            for p in files {
                out.extend(read_file(&p)?);
            }
        } else if path.exists() {
            out.extend(read_file(path)?);
        } else {
            return Err(CliError::usage(format!("the path \"{f}\" does not exist")));
        }
    }
    Ok(out)
}

fn read_file(p: &Path) -> Result<Vec<Manifest>, CliError> {
    let text = std::fs::read_to_string(p).map_err(|e| CliError::usage(format!("cannot read {}: {e}", p.display())))?;
    parse(&p.display().to_string(), &text)
}

/// Parses JSON or (multi-document) YAML text into objects.
pub fn parse(source: &str, text: &str) -> Result<Vec<Manifest>, CliError> {
    let bad = |e: String| CliError::usage(format!("error parsing {source}: {e}"));
    let docs: Vec<Value> = if text.trim_start().starts_with('{') {
        let mut v = Vec::new();
        for doc in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
            v.push(doc.map_err(|e| bad(e.to_string()))?);
        }
        v
    } else {
        serde_saphyr::from_multiple::<Value>(text).map_err(|e| bad(e.to_string()))?
    };
    let mut out = Vec::new();
    for doc in docs {
        flatten(source, doc, &mut out)?;
    }
    Ok(out)
}

fn flatten(source: &str, doc: Value, out: &mut Vec<Manifest>) -> Result<(), CliError> {
    match doc {
        Value::Null => Ok(()),
        Value::Object(ref m) if m.is_empty() => Ok(()),
        Value::Object(mut m) => {
            let is_list = m.get("kind").and_then(Value::as_str).is_some_and(|k| k == "List" || k.ends_with("List"))
                && m.get("items").is_some_and(Value::is_array);
            if is_list {
                if let Some(Value::Array(items)) = m.remove("items") {
                    for item in items {
                        flatten(source, item, out)?;
                    }
                }
                return Ok(());
            }
            if !m.contains_key("kind") {
                return Err(CliError::usage(format!(
                    "error validating data: [apiVersion not set, kind not set] in {source}"
                )));
            }
            out.push(Manifest { source: source.to_string(), object: Value::Object(m) });
            Ok(())
        }
        other => Err(CliError::usage(format!("error parsing {source}: expected an object, got {other}"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_and_lists() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c\n  data:\n    port: \"80\"\n";
        let m = parse("f.yaml", text).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].object["metadata"]["name"], "a");
        assert_eq!(m[1].object["kind"], "ConfigMap");
        assert_eq!(m[1].object["data"]["port"], "80");
        assert_eq!(m[1].source, "f.yaml");
    }

    #[test]
    fn json_documents() {
        let m = parse("x.json", "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"j\"}}").unwrap();
        assert_eq!(m[0].object["metadata"]["name"], "j");
    }

    #[test]
    fn directories_and_missing_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.yaml"), "kind: Pod\napiVersion: v1\nmetadata: {name: b}\n").unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\"}}",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not yaml: [").unwrap();
        let m = read_all(&[dir.path().display().to_string()]).unwrap();
        let names: Vec<_> = m.iter().map(|x| x.object["metadata"]["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a", "b"]);
        let e = read_all(&["/no/such/file.yaml".into()]).unwrap_err();
        assert_eq!(e.message().unwrap(), "error: the path \"/no/such/file.yaml\" does not exist");
    }

    #[test]
    fn missing_kind_is_an_error() {
        assert!(parse("f.yaml", "metadata:\n  name: x\n").is_err());
    }
}
