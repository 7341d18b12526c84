//! `buildfarm schema`: the JSON Schema editors use. Every example validates against it, and it
//! rejects what the parser rejects in shape (typos, wrong types).

use std::path::Path;

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(&buildfarm::schema()).unwrap();
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

fn json(toml_text: &str) -> serde_json::Value {
    toml::from_str(toml_text).expect("TOML parses")
}

#[test]
fn every_example_validates() {
    let v = validator();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let instance = json(&std::fs::read_to_string(&path).unwrap());
        let errors: Vec<String> = v.iter_errors(&instance).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        checked += 1;
    }
    assert!(checked >= 5);
    let init = buildfarm::farm_toml(
        buildfarm::Mode::Privileged,
        &[buildfarm::Arch::Amd64, buildfarm::Arch::S390x],
    );
    assert!(v.is_valid(&json(&init)), "init's farm.toml validates");
    assert!(init.starts_with("#:schema ./farm.schema.json\n"));
}

#[test]
fn typos_and_wrong_types_are_rejected() {
    let v = validator();
    assert!(v.is_valid(&json("[[pool]]\narch = \"amd64\"\nreplicas = 2\n")));
    for bad in [
        "nmae = \"ci\"\n",                                  // unknown top-level key
        "[[pool]]\narch = \"amd64\"\nreplica = 2\n",        // unknown pool key
        "[tls]\nserver_dayz = 3\n",                         // unknown key in a table
        "[[pool]]\narch = \"amd64\"\nreplicas = \"two\"\n", // wrong type
        "debug = \"yes\"\n",                                // wrong type
        "[gc]\nmax_used = true\n",                          // a size is a string or bytes
    ] {
        assert!(!v.is_valid(&json(bad)), "schema accepts:\n{bad}");
    }
}

#[test]
fn descriptions_come_from_the_field_docs() {
    let schema: serde_json::Value = serde_json::from_str(&buildfarm::schema()).unwrap();
    assert_eq!(schema["additionalProperties"], false);
    let mode = schema["properties"]["mode"]["description"]
        .as_str()
        .unwrap();
    assert!(
        mode.contains("`rootless` (default), `privileged` or `userns`"),
        "{mode}"
    );
}
