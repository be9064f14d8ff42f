//! Moving realisations between stores: archives (`cairn cache export` /
//! `import`) and the remote cache (`cairn cache push` / `pull`, and the pull
//! and push around a `cairn run` when `[remote] url` is set).
//!
//! What travels is the closure of realisations: each realisation (signed by
//! `[remote] sign-with` on the way out), its derivation, its path set, and
//! its objects — without the content of `highly_sensitive` outputs unless
//! asked. What arrives enters the store only if it is signed by a trusted
//! key (`[trust] keys`) or the user said `--trust-unsigned`; objects are
//! always verified against their names.
//!
//! Remote layout under the URL: `cas/<object hex>`, `paths/<derivation
//! hex>` (canonical `PathSets`), `ac/<realisation key hex>` (canonical
//! realisation). Objects go up before the records that name them.

use crate::run::EventSink;
use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, bail};
use cairn_store::{
    Digest, ExportOptions, ImportOptions, PATH_SETS_FORMAT, PathSets, Realisation, from_toml,
    realisation_key, to_canonical,
};

use super::objects::Wanted;
use super::remote::{Remote, Timeouts};
use super::settings::Sharing;
use super::trust::{SecretKey, verify};
use crate::session::Session;

/// One action's current realisation, as it travels.
pub struct Current {
    pub key: Digest,
    pub realisation: Realisation,
}

/// The current realisations of `targets` and everything they need, in
/// dependency order. An action with no outputs for the current sources is
/// an error: run it first.
pub fn closure(session: &Session, targets: &[String]) -> Result<Vec<Current>> {
    let plan = crate::plan::Plan::new(&session.project, targets)?;
    let evaluated = crate::status::evaluate(session)?;
    let by_name: HashMap<&str, &crate::status::Evaluated> =
        evaluated.iter().map(|e| (e.name.as_str(), e)).collect();
    let mut out = Vec::new();
    let mut stale = Vec::new();
    for a in &plan.order {
        match by_name.get(a.as_str()).and_then(|e| e.realisation.as_ref()) {
            Some(r) => out.push(Current {
                key: r.key(),
                realisation: r.clone(),
            }),
            None => stale.push(a.as_str()),
        }
    }
    if !stale.is_empty() {
        bail!(
            "{} ha{} no outputs for the current sources: run `cairn run {}` first",
            stale.join(", "),
            if stale.len() == 1 { "s" } else { "ve" },
            stale.join(" ")
        );
    }
    Ok(out)
}

/// Adds `signer`'s signature to each realisation that lacks it, in the
/// store too, so what leaves carries it.
pub fn sign(session: &Session, signer: Option<&SecretKey>, current: &mut [Current]) -> Result<()> {
    let Some(key) = signer else { return Ok(()) };
    let name = format!("{}:", key.name);
    for c in current {
        let r = &mut c.realisation;
        let signature = key.sign(&r.signed_bytes());
        if r.signatures.contains(&signature) {
            continue;
        }
        r.signatures.retain(|s| !s.starts_with(&name));
        r.signatures.push(signature);
        r.signatures.sort();
        session.store.put_realisation(r)?;
    }
    Ok(())
}

/// Whether a realisation from elsewhere may be used: signed by a trusted
/// key, or accepted unsigned on request.
pub fn trusted(sharing: &Sharing, trust_unsigned: bool, r: &Realisation) -> Result<(), String> {
    if verify(&sharing.trusted, &r.signed_bytes(), &r.signatures).is_some() || trust_unsigned {
        return Ok(());
    }
    Err(if r.signatures.is_empty() {
        "it is not signed (use --trust-unsigned to accept it, or sign with [remote] sign-with)"
            .to_string()
    } else {
        "no signature is by a key in [trust] keys".to_string()
    })
}

/// The name of the action a derivation is of, if the store has it.
fn action_of(session: &Session, drv: &Digest) -> String {
    session
        .store
        .derivation(drv)
        .ok()
        .flatten()
        .map(|d| d.action.name)
        .unwrap_or_else(|| format!("derivation {}", drv.short()))
}

/// `cairn cache export`.
pub fn export(
    session: &Session,
    sharing: &Sharing,
    targets: &[String],
    out: &std::path::Path,
    include_highly_sensitive: bool,
) -> Result<()> {
    let mut current = closure(session, targets)?;
    sign(session, sharing.signer()?.as_ref(), &mut current)?;
    let keys: Vec<Digest> = current.iter().map(|c| c.key).collect();
    let bar = spinner(&format!("exporting {} realisation(s)", keys.len()));
    let tmp = tempfile::NamedTempFile::new_in(
        out.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new(".")),
    )
    .context("creating the archive")?;
    let stats = session.store.export(
        &keys,
        &ExportOptions {
            include_highly_sensitive,
        },
        std::io::BufWriter::new(tmp.as_file()),
    )?;
    tmp.persist(out)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", out.display()))?;
    bar.finish_and_clear();
    println!(
        "exported {} realisation(s), {} derivation(s), {} object(s) ({}) to {} ({}); {} object(s) withheld (highly_sensitive{})",
        stats.realisations,
        stats.derivations,
        stats.objects,
        human(stats.object_bytes),
        out.display(),
        human(stats.archive_bytes),
        stats.withheld,
        if include_highly_sensitive {
            ""
        } else {
            "; --include-highly-sensitive to include them"
        }
    );
    Ok(())
}

/// `cairn cache import`.
pub fn import(
    session: &Session,
    sharing: &Sharing,
    files: &[std::path::PathBuf],
    trust_unsigned: bool,
) -> Result<()> {
    for file in files {
        let bar = spinner(&format!("importing {}", file.display()));
        let input =
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let stats = session
            .store
            .import_accepting(
                std::io::BufReader::new(input),
                &ImportOptions::default(),
                &|r| trusted(sharing, trust_unsigned, r),
            )
            .with_context(|| format!("importing {}", file.display()))?;
        bar.finish_and_clear();
        for refused in &stats.refused {
            eprintln!(
                "warning: ignoring the realisation of {} from {}: {}",
                action_of(session, &refused.derivation),
                file.display(),
                refused.reason
            );
        }
        println!(
            "imported {}: {} realisation(s) added ({} already here, {} ignored), {} derivation(s), {} object(s) added ({}), {} already here, {} withheld",
            file.display(),
            stats.realisations_added,
            stats.realisations_kept,
            stats.refused.len(),
            stats.derivations_added,
            stats.objects_added,
            human(stats.bytes_added),
            stats.objects_present,
            stats.withheld
        );
    }
    Ok(())
}

/// Connects to the remote the settings name, or says there is none.
pub fn connect(sharing: &Sharing) -> Result<Remote> {
    connect_noting(sharing, &|m| eprintln!("{m}"))
}

/// [`connect`], with the settings' warnings told to `note`.
pub fn connect_noting(sharing: &Sharing, note: &dyn Fn(&str)) -> Result<Remote> {
    let Some(settings) = &sharing.remote else {
        bail!("no remote cache: set [remote] url in cairn.toml, $CAIRN_REMOTE, or --remote URL");
    };
    for w in &sharing.warnings {
        note(&format!("warning: {w}"));
    }
    // `CAIRN_REMOTE_TIMEOUT=SECONDS` bounds each connection and read (a whole
    // exchange: three times that) for servers known to be slow or far.
    let timeouts = match std::env::var("CAIRN_REMOTE_TIMEOUT") {
        Ok(v) => Timeouts::all(std::time::Duration::from_secs_f64(
            v.parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0)
                .with_context(|| {
                    format!("CAIRN_REMOTE_TIMEOUT={v:?} is not a number of seconds")
                })?,
        )),
        Err(_) => Timeouts::default(),
    };
    Ok(settings.connect(timeouts)?)
}

/// What a push did.
#[derive(Default)]
pub struct Pushed {
    pub realisations: usize,
    pub objects: usize,
    pub present: usize,
    pub bytes: u64,
    pub withheld: usize,
    pub withheld_bytes: u64,
}

/// Pushes realisations, signed first by `[remote] sign-with` when it is
/// set: objects first, then `ac/<key>`, then the path set merged into
/// `paths/<derivation>`.
pub fn push_realisations(
    session: &Session,
    remote: &Remote,
    sharing: &Sharing,
    current: &mut [Current],
    include_highly_sensitive: bool,
) -> Result<Pushed> {
    sign(session, sharing.signer()?.as_ref(), current)?;
    let current: &[Current] = current;
    let mut pushed = Pushed::default();
    let mut objects = Vec::new();
    for c in current {
        let r = &c.realisation;
        for e in r.outputs.files.values() {
            if e.is_highly_sensitive() && !include_highly_sensitive {
                pushed.withheld += 1;
                pushed.withheld_bytes += e.size;
            } else if session.store.has_object(&e.object) {
                objects.push(e.object);
            }
        }
        objects.extend(r.log);
    }
    let stats = remote.upload_objects(&session.store, &objects)?;
    if !stats.complete() {
        bail!(
            "{} object(s) could not be sent ({} missing here, {} corrupt here and quarantined); no record was pushed",
            stats.missing.len() + stats.refused.len(),
            stats.missing.len(),
            stats.refused.len()
        );
    }
    pushed.objects = stats.transferred;
    pushed.present = stats.present;
    pushed.bytes = stats.bytes;
    let mut sets: BTreeMap<Digest, Vec<cairn_store::PathSet>> = BTreeMap::new();
    for c in current {
        remote.put(
            &format!("ac/{}", c.key.to_hex()),
            c.realisation.to_canonical().as_bytes(),
        )?;
        pushed.realisations += 1;
        sets.entry(c.realisation.derivation)
            .or_default()
            .push(c.realisation.observations.path_set());
    }
    for (drv, new) in sets {
        let rel = format!("paths/{}", drv.to_hex());
        // Read, merge, write back: a lost update loses a cache hit, never
        // correctness. A record that does not parse is replaced.
        let mut record = remote_path_sets(remote, &drv)?.unwrap_or(PathSets {
            format: PATH_SETS_FORMAT,
            derivation: drv,
            sets: Vec::new(),
        });
        for set in new {
            record.promote(set);
        }
        remote.put(&rel, to_canonical(&record).as_bytes())?;
    }
    Ok(pushed)
}

fn remote_path_sets(remote: &Remote, drv: &Digest) -> Result<Option<PathSets>> {
    let Some(bytes) = remote.get(&format!("paths/{}", drv.to_hex()))? else {
        return Ok(None);
    };
    let parsed = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|t| from_toml::<PathSets>(t).ok())
        .filter(|p| p.derivation == *drv && p.validate().is_ok());
    Ok(parsed)
}

/// Looks derivation `drv` up in the remote cache for `sources`, most recent
/// path set first; a trusted realisation found is brought in, with its
/// objects (verified), and returned. `Ok(None)`: nothing usable there.
pub fn fetch(
    session: &Session,
    remote: &Remote,
    sharing: &Sharing,
    trust_unsigned: bool,
    drv: &cairn_store::Derivation,
    sources: &crate::sources::SourceTree,
    note: &dyn Fn(&str),
) -> Result<Option<(Digest, Realisation)>> {
    let id = drv.id();
    let Some(sets) = remote_path_sets(remote, &id)? else {
        return Ok(None);
    };
    for set in &sets.sets {
        let key = realisation_key(&id, &crate::observe::observe(sources, set));
        let Some(bytes) = remote.get(&format!("ac/{}", key.to_hex()))? else {
            continue;
        };
        let Some(r) = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|t| from_toml::<Realisation>(t).ok())
            .filter(|r| r.validate().is_ok() && r.key() == key)
        else {
            note(&format!(
                "warning: the remote's ac/{} is not a realisation of {}: ignored",
                key.to_hex(),
                drv.action.name
            ));
            continue;
        };
        if let Err(why) = trusted(sharing, trust_unsigned, &r) {
            note(&format!(
                "warning: ignoring the remote's realisation of {}: {why}",
                drv.action.name
            ));
            continue;
        }
        let wanted: Vec<Wanted> = r
            .outputs
            .files
            .values()
            .map(|e| Wanted {
                digest: e.object,
                size: Some(e.size),
            })
            .chain(r.log.map(Wanted::from))
            .collect();
        let stats = remote.download_objects(&session.store, &wanted)?;
        let sensitive: Vec<Digest> = r
            .outputs
            .files
            .values()
            .filter(|e| e.is_highly_sensitive())
            .map(|e| e.object)
            .collect();
        let lacking: Vec<&Digest> = stats
            .missing
            .iter()
            .filter(|d| !sensitive.contains(d))
            .chain(stats.refused.iter().map(|x| &x.digest))
            .collect();
        if !lacking.is_empty() {
            note(&format!(
                "warning: the remote's realisation of {} names {} object(s) it could not give intact: ignored",
                drv.action.name,
                lacking.len()
            ));
            continue;
        }
        session.store.put_derivation(drv)?;
        session.store.put_realisation(&r)?;
        return Ok(Some((key, r)));
    }
    Ok(None)
}

fn spinner(msg: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_message(msg.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Bytes for people: `812 B`, `4.2 KiB`, `1.98 GiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2} {}", UNITS[unit])
}

/// `cairn cache pull`: for each action of the plan, in dependency order,
/// what the remote has for its current derivation and sources. Returns how
/// many realisations came in.
pub fn pull(
    session: &Session,
    remote: &Remote,
    sharing: &Sharing,
    trust_unsigned: bool,
    targets: &[String],
) -> Result<usize> {
    let plan = crate::plan::Plan::new(&session.project, targets)?;
    let mut manifests: HashMap<String, Digest> = HashMap::new();
    let mut pulled = 0;
    for a in &plan.order {
        let Some(inputs) = session.inputs_of(a, &manifests) else {
            continue;
        };
        let sources = session.sources_for(a)?;
        let drv = session.derivation(a, inputs)?;
        let found = match session.lookup(&drv.id(), &sources)? {
            Some((_, r)) => Some(r),
            None => {
                let got = fetch(
                    session,
                    remote,
                    sharing,
                    trust_unsigned,
                    &drv,
                    &sources,
                    &|m| eprintln!("{m}"),
                )?;
                pulled += usize::from(got.is_some());
                got.map(|(_, r)| r)
            }
        };
        if let Some(r) = found {
            manifests.insert(a.clone(), r.outputs.digest());
        }
    }
    Ok(pulled)
}

/// The remote cache a run uses: pulls what it lacks before building,
/// pushes what it built after. The settings are read and the connection
/// made only when first needed, so a run that finds everything locally (a
/// no-op) costs nothing more. Any failure is a warning, once, and the run
/// goes on locally.
pub struct RunRemote {
    trust_unsigned: bool,
    connected: std::sync::OnceLock<Option<(Remote, Sharing)>>,
    down: std::sync::atomic::AtomicBool,
}

impl RunRemote {
    pub fn new(trust_unsigned: bool) -> RunRemote {
        RunRemote {
            trust_unsigned,
            connected: std::sync::OnceLock::new(),
            down: Default::default(),
        }
    }

    /// The remote the project's settings name, connected on first use.
    fn get(&self, session: &Session, sink: &dyn EventSink) -> Option<&(Remote, Sharing)> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        self.connected
            .get_or_init(|| {
                let sharing = match Sharing::resolve(&session.config, &session.project_dir, None) {
                    Ok(s) => s,
                    Err(e) => {
                        sink.note(&format!("warning: {e:#}; running without the remote cache"));
                        return None;
                    }
                };
                sharing.remote.as_ref()?;
                match connect_noting(&sharing, &|m| sink.note(m)) {
                    Ok(r) => Some((r, sharing)),
                    Err(e) => {
                        sink.note(&format!("warning: {e:#}; running without the remote cache"));
                        None
                    }
                }
            })
            .as_ref()
    }

    fn failed(&self, what: &str, e: &anyhow::Error, sink: &dyn EventSink) {
        use std::sync::atomic::Ordering;
        if !self.down.swap(true, Ordering::SeqCst) {
            sink.note(&format!(
                "warning: the remote cache failed while {what}: {e:#}; this run goes on without it"
            ));
        }
    }

    /// What the remote has for `drv` and `sources`, if it can say.
    pub fn fetch(
        &self,
        session: &Session,
        drv: &cairn_store::Derivation,
        sources: &crate::sources::SourceTree,
        sink: &dyn EventSink,
    ) -> Option<(Digest, Realisation)> {
        let (remote, sharing) = self.get(session, sink)?;
        let note = |m: &str| sink.note(m);
        match fetch(
            session,
            remote,
            sharing,
            self.trust_unsigned,
            drv,
            sources,
            &note,
        ) {
            Ok(found) => found,
            Err(e) => {
                self.failed(&format!("looking up {}", drv.action.name), &e, sink);
                None
            }
        }
    }

    /// Pushes the realisations `built` (signed first when `sign-with` is set).
    pub fn push(&self, session: &Session, built: Vec<Realisation>, sink: &dyn EventSink) {
        if built.is_empty() {
            return;
        }
        let Some((remote, sharing)) = self.get(session, sink) else {
            return;
        };
        let mut current: Vec<Current> = built
            .into_iter()
            .map(|r| Current {
                key: r.key(),
                realisation: r,
            })
            .collect();
        let result = push_realisations(session, remote, sharing, &mut current, false);
        match result {
            Ok(p) => sink.note(&format!(
                "pushed {} realisation(s) and {} object(s) ({}) to the remote cache; {} object(s) withheld (highly_sensitive)",
                p.realisations,
                p.objects,
                human(p.bytes),
                p.withheld
            )),
            Err(e) => self.failed("pushing", &e, sink),
        }
    }
}
