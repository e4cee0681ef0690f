//! `mixatlas predict`: streams the candidates through the predictor in chunks, so memory is
//! bounded by the chunk whatever the file's length.

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;

use crate::cli::args::PredictArgs;
use crate::cli::output::{self, PredictionWriter};
use crate::device::BackendTask;
use crate::runs::{DataSpec, MixtureChunks, STREAM_CHUNK};

struct Task {
    args: PredictArgs,
}

impl BackendTask for Task {
    type Output = Result<()>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let a = &self.args;
        let model = super::load_model::<B>(&a.checkpoint, &device)?;
        let schema = model.surrogate().schema();
        let columns = schema.mixture_columns.clone();
        let mut spec = DataSpec::for_mixture_file(&a.input, columns, a.key.clone());
        spec.renormalize = a.renormalize;
        let names = schema.target_names();
        let mut out = PredictionWriter::create(a.output.as_deref(), &names, false, a.common.json)?;
        for chunk in MixtureChunks::open(&spec, schema, STREAM_CHUNK)? {
            let runs = chunk?;
            let prediction = model.predict(&runs.mixtures, &runs.context)?;
            out.write(&runs.keys, &prediction, None)?;
        }
        out.finish()
    }
}

pub fn run(args: PredictArgs) -> Result<()> {
    let inputs = [args.input.as_path(), args.checkpoint.as_path()];
    output::check_file(args.output.as_deref(), args.force, &inputs)?;
    args.common.device.dispatch(Task { args })?
}
