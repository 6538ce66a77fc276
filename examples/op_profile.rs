//! Where a model call's time goes in tract: wall time per node of the plan the server runs
//! for a batch (`model::runtime::optimised_plan`), then per node of each LSTM layer's `Scan`
//! body (one time step). perf shows which kernels are hot; this shows which *ops* pay for
//! them, which is what a change to the exported graph can act on (docs/benchmarks.md).
//!
//! Usage: `cargo run --release --example op_profile -- MODEL.toml [BATCH] [CHUNK_FRAMES]`
//! (defaults 32 and 4). `FIXED_BATCH=1` profiles a plan built for exactly BATCH streams
//! instead of the any-batch plan that batches run on.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use compact_asr::model::runtime::optimised_plan;
use compact_asr::model::ModelSpec;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::DimLike;
use tract_onnx::tract_core::ops::scan::OptScan;
use tract_onnx::tract_core::plan::eval;

/// Calls timed per plan (after as many untimed ones as warm-up).
const CALLS: usize = 300;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let toml = PathBuf::from(
        args.next()
            .unwrap_or_else(|| compact_asr::config::DEFAULT_MODEL.into()),
    );
    let batch: usize = args.next().map_or(Ok(32), |a| a.parse())?;
    let chunk: usize = args.next().map_or(Ok(4), |a| a.parse())?;
    let spec = ModelSpec::load(&toml)?;
    let fixed = std::env::var_os("FIXED_BATCH").is_some();
    let plan = optimised_plan(&spec, fixed.then_some(batch), None)?;

    let mut inputs = vec![Tensor::zero::<f32>(&[batch, chunk, spec.input_dim()])?];
    for state in &spec.states {
        inputs.push(Tensor::zero::<f32>(&state.shape_for_batch(batch))?);
    }
    let per_node = profile(&plan, &inputs)?;
    let total: Duration = per_node.iter().map(|(_, d)| *d).sum();
    println!(
        "{} at batch {batch}, {chunk} frames: {:.0} us per call, {:.1} us per stream-frame",
        spec.model.name,
        micros(total),
        micros(total) / (batch * chunk) as f64
    );
    print_rows(&per_node);

    for node in plan.model().nodes() {
        let Some(scan) = node.op_as::<OptScan>() else {
            continue;
        };
        let body = scan.plan.model().clone();
        let symbols = batch_symbol_values(&body, batch);
        let inputs = body
            .input_outlets()?
            .iter()
            .map(|outlet| {
                let shape = body
                    .outlet_fact(*outlet)?
                    .shape
                    .iter()
                    .map(|d| Ok(d.eval(&symbols).to_usize()?))
                    .collect::<TractResult<Vec<usize>>>()?;
                Tensor::zero::<f32>(&shape)
            })
            .collect::<TractResult<Vec<Tensor>>>()?;
        let per_node = profile(&body.into_runnable()?, &inputs)?;
        let step: Duration = per_node.iter().map(|(_, d)| *d).sum();
        println!(
            "\n{} body, one time step: {:.1} us",
            node.name,
            micros(step)
        );
        print_rows(&per_node);
    }
    Ok(())
}

/// Mean wall time per call of each node, slowest first.
fn profile(
    plan: &Arc<TypedRunnableModel>,
    inputs: &[Tensor],
) -> TractResult<Vec<(String, Duration)>> {
    let mut times: HashMap<usize, Duration> = HashMap::new();
    for call in 0..2 * CALLS {
        let mut state = plan.spawn()?;
        let values = inputs.iter().map(|t| t.clone().into_tvalue()).collect();
        state.run_plan_with_eval(values, |ctx, op_state, node, node_inputs| {
            let started = Instant::now();
            let outputs = eval(ctx, op_state, node, node_inputs);
            if call >= CALLS {
                *times.entry(node.id).or_default() += started.elapsed();
            }
            outputs
        })?;
    }
    let model = plan.model();
    let mut rows: Vec<(String, Duration)> = times
        .into_iter()
        .map(|(id, total)| {
            let node = model.node(id);
            let shape = format!("{:?}", node.outputs[0].fact.shape);
            let label = format!("{} {} {shape}", node.op().name(), node.name);
            (label, total / CALLS as u32)
        })
        .collect();
    rows.sort_by_key(|(_, d)| std::cmp::Reverse(*d));
    Ok(rows)
}

/// Binds the body's batch symbol (whatever tract named it) to `batch`.
fn batch_symbol_values(body: &TypedModel, batch: usize) -> SymbolValues {
    let mut values = SymbolValues::default();
    for symbol in body.symbols.all_symbols() {
        if symbol.to_string() == "B" {
            values.set(&symbol, batch as i64);
        }
    }
    values
}

fn print_rows(rows: &[(String, Duration)]) {
    for (label, d) in rows.iter().filter(|(_, d)| micros(*d) >= 0.5) {
        println!("{:9.1} us  {label}", micros(*d));
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
