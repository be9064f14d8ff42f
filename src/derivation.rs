//! Builds an action's derivation from the project, the executor and its inputs.

use std::collections::BTreeMap;

use anyhow::Result;
use cairn_store::{ActionSpec, DERIVATION_FORMAT, Derivation, Digest, ImageSpec, Visible};

use crate::exec::Executor;
use crate::project::Action;

/// The derivation of `action`, given which sources it can see and the
/// output-manifest digest of each action it needs. What it then looks at
/// among those sources is not here: it is the realisation's observation set.
pub fn derive(
    action: &Action,
    executor: &dyn Executor,
    env: &BTreeMap<String, String>,
    visible: Visible,
    inputs: BTreeMap<String, Digest>,
) -> Result<Derivation> {
    let outputs = action
        .outputs
        .iter()
        .map(|(level, m)| {
            (
                level.as_str().to_string(),
                m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            )
        })
        .collect();
    Ok(Derivation {
        format: DERIVATION_FORMAT,
        action: ActionSpec {
            name: action.name.clone(),
            outputs,
        },
        argv: action.argv.clone(),
        image: ImageSpec {
            reference: format!("{}:{}", action.image, action.tag),
            identity: executor.identity(&action.image, &action.tag)?,
        },
        env: env.clone(),
        visible,
        inputs,
    })
}
