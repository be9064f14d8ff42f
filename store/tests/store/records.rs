//! Digests and records: the forms people and files see, and the canonical
//! encoding that derivation ids depend on.

use std::collections::BTreeMap;

use cairn_store::{
    ActionSpec, AllSources, DERIVATION_FORMAT, Derivation, Digest, Error, ImageSpec, Kind,
    ObservationSet, Observed, OutputEntry, OutputManifest, PRIVACY_LEVELS, Realisation, Visible,
    from_toml, to_canonical,
};
use proptest::prelude::*;

use crate::support::{Fixture, derivation, realisation};

fn digest() -> impl Strategy<Value = Digest> {
    any::<[u8; 32]>().prop_map(Digest::from)
}

fn text() -> impl Strategy<Value = String> {
    // Quotes, backslashes, newlines, control and non-ASCII characters are
    // what TOML escaping can get wrong.
    "[a-z\"\\\\\n\t\u{1}é=. \\[\\]#'-]{0,12}"
}

fn derivations() -> impl Strategy<Value = Derivation> {
    (
        text(),
        prop::collection::btree_map(
            prop::sample::select(PRIVACY_LEVELS.to_vec()).prop_map(String::from),
            prop::collection::btree_map(text(), text(), 0..3),
            0..3,
        ),
        prop::collection::vec(text(), 0..4),
        (text(), text()),
        prop::collection::btree_map(text(), text(), 0..4),
        prop_oneof![
            Just(Visible::All(AllSources::All)),
            prop::collection::vec(text(), 0..3).prop_map(Visible::Declared),
        ],
        prop::collection::btree_map(text(), digest(), 0..3),
    )
        .prop_map(
            |(name, outputs, argv, (reference, identity), env, visible, inputs)| Derivation {
                format: DERIVATION_FORMAT,
                action: ActionSpec { name, outputs },
                argv,
                image: ImageSpec {
                    reference,
                    identity,
                },
                env,
                visible,
                inputs,
            },
        )
}

fn realisations() -> impl Strategy<Value = Realisation> {
    let entry = (
        digest(),
        any::<u64>(),
        prop::bool::ANY,
        prop::sample::select(PRIVACY_LEVELS.to_vec()),
    )
        .prop_map(|(object, size, exec, level)| OutputEntry {
            object,
            size: size >> 1, // TOML integers are signed 64-bit
            mode: if exec { 0o755 } else { 0o644 },
            level: level.to_string(),
        });
    (
        digest(),
        prop::collection::btree_map("[a-z]{1,5}(/[a-z.]{1,5}){0,2}", entry, 0..4),
        any::<i32>(),
        prop::option::of(digest()),
        prop::option::of(text()),
        text(),
        observations(),
    )
        .prop_map(|(drv, files, exit_code, log, commit, host, observations)| {
            let mut r = realisation(drv, OutputManifest { files });
            r.observations = observations;
            r.exit_code = exit_code;
            r.log = log;
            r.commit = commit;
            r.host = host;
            r
        })
}

fn observations() -> impl Strategy<Value = ObservationSet> {
    let observed = prop_oneof![
        digest().prop_map(Observed::File),
        Just(Observed::Dir),
        digest().prop_map(Observed::Listing),
        Just(Observed::Absent),
    ];
    let path = "[a-z]{1,5}(/[a-z.]{1,5}){0,2}";
    (
        prop::collection::btree_map(path, observed.clone(), 0..4),
        prop::collection::btree_map(path, observed, 0..3),
        prop::bool::ANY,
    )
        .prop_map(|(read, listed, untraced)| ObservationSet {
            read,
            listed,
            untraced,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn derivations_encode_canonically(d in derivations()) {
        let text = d.to_canonical();
        let back: Derivation = from_toml(&text).unwrap();
        prop_assert_eq!(&back, &d);
        prop_assert_eq!(back.to_canonical(), text.clone());
        prop_assert_eq!(back.id(), Kind::Derivation.digest(text.as_bytes()));
        prop_assert!(text.contains("format = 2"));
    }

    #[test]
    fn realisations_encode_canonically(r in realisations()) {
        let text = r.to_canonical();
        let back: Realisation = from_toml(&text).unwrap();
        prop_assert_eq!(&back, &r);
        prop_assert_eq!(back.to_canonical(), text);
    }

    #[test]
    fn digests_round_trip_through_their_text_forms(d in digest()) {
        let hex = d.to_hex();
        prop_assert_eq!(hex.len(), 64);
        prop_assert_eq!(hex.parse::<Digest>().unwrap(), d);
        let b32 = d.to_base32();
        prop_assert_eq!(b32.len(), 52);
        prop_assert!(b32.starts_with(&d.short()));
        prop_assert!(b32.chars().all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c)));
    }
}

#[test]
fn equal_content_in_another_order_gives_the_same_id() {
    let a = derivation("a", "1");
    // The same record written by hand, fields and keys in another order.
    let reordered = "visible = \"all\"\nargv = [\"python\", \"analysis/a.py\", \"1\"]\nformat = 2\n\
         [inputs]\n[env]\nTZ = \"UTC\"\n[image]\nidentity = \"sha256:0123\"\n\
         reference = \"python:v2\"\n[action]\nname = \"a\"\n\
         [action.outputs.moderately_sensitive]\nout = \"output/*\"\n";
    let b: Derivation = from_toml(reordered).unwrap();
    assert_eq!(b.id(), a.id());
    assert_eq!(to_canonical(&b), a.to_canonical());
}

#[test]
fn each_kind_hashes_under_its_own_context() {
    let contexts = [
        Kind::Object,
        Kind::Derivation,
        Kind::Manifest,
        Kind::SourceTree,
        Kind::Realisation,
        Kind::Listing,
    ]
    .map(|k| (k.context(), k.digest(b"same bytes")));
    for (i, (ci, di)) in contexts.iter().enumerate() {
        assert!(
            ci.starts_with("cairn ") && (ci.ends_with(" v1") || ci.ends_with(" v2")),
            "{ci}"
        );
        for (cj, dj) in &contexts[i + 1..] {
            assert_ne!(di, dj, "{ci} and {cj} collide");
        }
    }
    let mut h = blake3::Hasher::new_derive_key("cairn object v1");
    h.update(b"same bytes");
    assert_eq!(
        Digest::from(h.finalize()),
        Kind::Object.digest(b"same bytes")
    );
}

#[test]
fn records_round_trip_through_the_store() {
    let f = Fixture::new();
    let d = derivation("a", "1");
    let id = f.store.put_derivation(&d).unwrap();
    assert_eq!(id, d.id());
    assert_eq!(f.store.put_derivation(&d).unwrap(), id);
    assert_eq!(f.store.derivation(&id).unwrap(), Some(d));
    let r = realisation(id, OutputManifest::default());
    f.store.put_realisation(&r).unwrap();
    assert_eq!(f.store.realisation(&r.key()).unwrap(), Some(r.clone()));
    assert!(
        !f.store.has_realisation(&id),
        "filed by key, not derivation id"
    );
    assert_eq!(
        f.store.path_sets(&id).unwrap(),
        vec![r.observations.path_set()]
    );
    let other = Kind::Derivation.digest(b"never recorded");
    assert_eq!(f.store.derivation(&other).unwrap(), None);
    assert!(!f.store.has_realisation(&other));
}

#[test]
fn a_realisation_naming_an_absent_object_is_refused() {
    let f = Fixture::new();
    let id = f.store.put_derivation(&derivation("a", "1")).unwrap();
    let missing = Kind::Object.digest(b"never ingested");
    let files = BTreeMap::from([(
        "output/a.csv".to_string(),
        OutputEntry {
            object: missing,
            size: 14,
            mode: 0o644,
            level: "moderately_sensitive".into(),
        },
    )]);
    let err = f
        .store
        .put_realisation(&realisation(
            id,
            OutputManifest {
                files: files.clone(),
            },
        ))
        .unwrap_err();
    assert!(matches!(err, Error::DanglingReference { .. }), "{err}");
    assert!(err.to_string().contains("ingest the output"), "{err}");
    let key = realisation(id, OutputManifest::default()).key();
    assert!(!f.store.has_realisation(&key));

    // A highly sensitive output may be withheld.
    let mut files = files;
    files.get_mut("output/a.csv").unwrap().level = "highly_sensitive".into();
    let r = realisation(id, OutputManifest { files });
    f.store.put_realisation(&r).unwrap();
    assert!(f.store.has_realisation(&r.key()));
}

#[test]
fn unsafe_output_paths_and_unknown_formats_are_refused() {
    let f = Fixture::new();
    let id = f.store.put_derivation(&derivation("a", "1")).unwrap();
    let object = f.store.ingest_bytes(b"x").unwrap();
    for bad in ["../x", "/etc/passwd", "a//b", "a/./b", ""] {
        let files = BTreeMap::from([(
            bad.to_string(),
            OutputEntry {
                object,
                size: 1,
                mode: 0o644,
                level: "moderately_sensitive".into(),
            },
        )]);
        let err = f
            .store
            .put_realisation(&realisation(id, OutputManifest { files }))
            .unwrap_err();
        assert!(matches!(err, Error::BadRecord { .. }), "{bad:?}: {err}");
    }
    let mut d = derivation("a", "2");
    d.format = 99;
    let err = f.store.put_derivation(&d).unwrap_err();
    assert!(err.to_string().contains("derivation format 99"), "{err}");
}
