//! Recipe and predictor analysis you can look at: SVG figures (PNG on request) and one
//! self-contained HTML page. Takes plain data, never tensors: the CLI computes predictions
//! and hands them over.
//!
//! Every figure is either drawn or skipped with a reason (no out-of-fold predictions, an empty
//! campaign, a space with one domain, ...); the page lists what it could not draw and why, and
//! still writes the rest.

pub mod analysis;
mod assemble;
mod figures;

pub use assemble::{Inputs, Recipes, assemble, campaign_plots, read_oof, read_proposals};

pub use figures::{PALETTE, viridis};

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::io::Overwrite;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// An input file (proposals, out-of-fold predictions) is malformed.
    #[error("{path}: {problem}")]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line where there is one.
        problem: String,
    },
    /// An SVG could not be rasterised.
    #[error("rendering {figure} to PNG: {message}")]
    Render {
        /// The figure.
        figure: String,
        /// What went wrong.
        message: String,
    },
}

/// Out-of-fold predictions of one target.
#[derive(Debug, Clone)]
pub struct Parity {
    /// Target name.
    pub target: String,
    /// Observed values `[n]`.
    pub observed: Vec<f64>,
    /// Predicted means `[n]`.
    pub predicted: Vec<f64>,
    /// Total predictive std `[n]`.
    pub std: Vec<f64>,
}

/// One domain's partial-dependence curve.
#[derive(Debug, Clone)]
pub struct PdPanel {
    /// Domain name.
    pub domain: String,
    /// Shares on the x axis `[k]`, increasing.
    pub shares: Vec<f64>,
    /// Predicted mean `[k]`.
    pub mean: Vec<f64>,
    /// Epistemic std `[k]`.
    pub std: Vec<f64>,
    /// The base mixture's share of this domain.
    pub base_share: Option<f64>,
}

/// Shares on a grid of two axes (or recipes x one axis).
#[derive(Debug, Clone)]
pub struct Heatmap {
    /// Figure title.
    pub title: String,
    /// What the rows are.
    pub row_axis: String,
    /// What the columns are.
    pub col_axis: String,
    /// Row labels.
    pub rows: Vec<String>,
    /// Column labels.
    pub cols: Vec<String>,
    /// Values `[rows][cols]`.
    pub values: Vec<Vec<f64>>,
}

/// One recipe for the stacked bars.
#[derive(Debug, Clone)]
pub struct RecipeBar {
    /// Recipe name.
    pub name: String,
    /// `(domain, share)` in domain order.
    pub weights: Vec<(String, f64)>,
    /// Predicted target mean.
    pub mean: f64,
    /// Its epistemic std.
    pub std: f64,
}

/// Mixtures projected to two dimensions.
#[derive(Debug, Clone)]
pub struct Projection {
    /// Logged runs `(x, y)`.
    pub logged: Vec<(f64, f64)>,
    /// Recipes `(x, y, predicted value)`.
    pub recipes: Vec<(f64, f64, f64)>,
    /// What the colour shows.
    pub value_label: String,
    /// Share of variance the two components explain.
    pub explained: f64,
}

/// A campaign's progress.
#[derive(Debug, Clone)]
pub struct CampaignPlots {
    /// What the y axis of best-so-far shows.
    pub value_label: String,
    /// Each run's value in arrival order.
    pub each_run: Vec<f64>,
    /// Running best.
    pub best_so_far: Vec<f64>,
    /// Target names.
    pub targets: Vec<String>,
    /// `(round, mean epistemic std per target)`.
    pub epistemic_by_round: Vec<(usize, Vec<f64>)>,
}

/// The figures of one target; each figure's data or the reason it is missing.
#[derive(Debug, Clone)]
pub struct TargetSection {
    /// The target's name.
    pub target: String,
    /// Predicted vs observed.
    pub parity: Result<Parity, String>,
    /// `(nominal, empirical)` coverage points.
    pub calibration: Result<Vec<(f64, f64)>, String>,
    /// Partial-dependence panels.
    pub partial_dependence: Result<Vec<PdPanel>, String>,
    /// The top recipes' bars with this target's predictions.
    pub recipes: Result<Vec<RecipeBar>, String>,
}

/// Everything a report shows; each figure's data or the reason it is missing.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// Page title.
    pub title: String,
    /// Summary sentences, shown first.
    pub summary: Vec<String>,
    /// One section per target shown, the first being the one the summary speaks of.
    pub sections: Vec<TargetSection>,
    /// Axis heatmap of the top recipes.
    pub heatmap: Result<Heatmap, String>,
    /// PCA of recipes and logged runs.
    pub projection: Result<Projection, String>,
    /// Campaign progress.
    pub campaign: Result<CampaignPlots, String>,
    /// A backtest's best-so-far curves.
    pub backtest: Result<crate::evaluation::backtest::Summary, String>,
}

/// What [`write()`] produced.
#[derive(Debug, Clone)]
pub struct Written {
    /// The HTML page.
    pub html: PathBuf,
    /// Figure files written.
    pub figures: Vec<PathBuf>,
    /// `(figure, reason)` for each figure not drawn.
    pub skipped: Vec<(String, String)>,
}

/// Draws every available figure into `dir/figures/` (SVG, and PNG with `png`) and writes
/// `dir/report.html` with the figures inline; the directory is written at once through
/// [`crate::io::write_dir_atomic`] (`overwrite` and `inputs` as there).
pub fn write(
    data: &ReportData,
    dir: &Path,
    png: bool,
    overwrite: Overwrite,
    inputs: &[&Path],
) -> crate::Result<Written> {
    let (drawn, skipped) = draw(data);
    let mut files = figure_files(&drawn, png)?;
    let figures = files.iter().map(|(f, _)| dir.join(f)).collect();
    files.push((
        "report.html".into(),
        page(data, &drawn, &skipped).into_bytes(),
    ));
    crate::io::write_dir_atomic(dir, overwrite, inputs, &files)?;
    Ok(Written {
        html: dir.join("report.html"),
        figures,
        skipped,
    })
}

/// A figure drawn: the section it belongs to (a target, or empty for the figures over all
/// targets), its name, caption and SVG.
type Drawn = (String, String, &'static str, String);

/// Every figure `data` has what it needs for, and `(name, reason)` for each it has not. The
/// first section's figures keep their plain names (`parity`); the others' carry their target
/// (`parity-<target>`).
fn draw(data: &ReportData) -> (Vec<Drawn>, Vec<(String, String)>) {
    let mut drawn: Vec<Drawn> = Vec::new();
    let mut skipped = Vec::new();
    let mut add = |section: &str, name: String, caption, svg: Result<String, String>| match svg {
        Ok(svg) => drawn.push((section.to_owned(), name, caption, svg)),
        Err(reason) => skipped.push((name, reason)),
    };
    for (k, s) in data.sections.iter().enumerate() {
        let section = if data.sections.len() > 1 {
            s.target.clone()
        } else {
            String::new()
        };
        // A target's name may hold `/` (W&B metrics): file names keep [A-Za-z0-9_.-].
        let file_safe: String = (s.target.chars())
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let name = |base: &str| match k {
            0 => base.to_owned(),
            _ => format!("{base}-{file_safe}"),
        };
        let t = s.target.as_str();
        add(
            &section,
            name("parity"),
            "Predicted against observed values of held-out runs (out-of-fold), with 90% predictive intervals.",
            s.parity
                .as_ref()
                .map_err(Clone::clone)
                .and_then(figures::parity),
        );
        add(
            &section,
            name("calibration"),
            "How often the central predictive interval of each nominal level covered the observed value.",
            (s.calibration.as_ref().map_err(Clone::clone)).and_then(|p| figures::calibration(p, t)),
        );
        add(
            &section,
            name("partial_dependence"),
            "Each panel moves one domain's share from zero, rescaling the others; band: ±1 epistemic std; vertical line: the base mixture.",
            (s.partial_dependence.as_ref().map_err(Clone::clone))
                .and_then(|p| figures::partial_dependence(p, t)),
        );
        add(
            &section,
            name("top_recipes"),
            "Domain shares of the top recipes with their predicted target.",
            (s.recipes.as_ref().map_err(Clone::clone)).and_then(|b| figures::recipes(b, t)),
        );
    }
    add(
        "",
        "axis_heatmap".into(),
        "Mean share of the top recipes per axis value.",
        data.heatmap
            .as_ref()
            .map_err(Clone::clone)
            .and_then(figures::heatmap),
    );
    add(
        "",
        "projection".into(),
        "Recipes and logged runs on the first two principal components of the mixture weights.",
        data.projection
            .as_ref()
            .map_err(Clone::clone)
            .and_then(figures::projection),
    );
    add(
        "",
        "backtest".into(),
        "Backtest: regret (best run in the pool minus the best revealed) against runs revealed; \
         line: median over seeds, band: first to third quartile; dashed: uniform random, exactly.",
        data.backtest
            .as_ref()
            .map_err(Clone::clone)
            .and_then(figures::backtest),
    );
    add(
        "",
        "campaign_best".into(),
        "Best measured value against runs spent.",
        data.campaign
            .as_ref()
            .map_err(Clone::clone)
            .and_then(figures::best_so_far),
    );
    add(
        "",
        "campaign_uncertainty".into(),
        "Mean epistemic std of each round's proposals under the surrogate trained for that round.",
        data.campaign.as_ref().map_err(Clone::clone).and_then(|c| {
            if c.epistemic_by_round.is_empty() {
                Err("no round of the campaign has a trained surrogate yet".into())
            } else {
                figures::uncertainty_by_round(c)
            }
        }),
    );
    (drawn, skipped)
}

/// The SVG files of the figures `drawn` (`figures/NAME.svg`), each with its PNG when `png`.
fn figure_files(drawn: &[Drawn], png: bool) -> Result<Vec<(String, Vec<u8>)>, ReportError> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (_, name, _, svg) in drawn {
        files.push((format!("figures/{name}.svg"), svg.clone().into_bytes()));
        if png {
            let bytes = rasterize(svg)
                .and_then(|p| {
                    p.encode_png().map_err(|e| ReportError::Render {
                        figure: name.clone(),
                        message: e.to_string(),
                    })
                })
                .map_err(|e| match e {
                    ReportError::Render { message, .. } => ReportError::Render {
                        figure: name.clone(),
                        message,
                    },
                    other => other,
                })?;
            files.push((format!("figures/{name}.png"), bytes));
        }
    }
    Ok(files)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn page(data: &ReportData, drawn: &[Drawn], skipped: &[(String, String)]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
         body{{font-family:sans-serif;max-width:1240px;margin:2em auto;padding:0 1em;color:#222}}\
         figure{{margin:2em 0;border-top:1px solid #ddd;padding-top:1em}}\
         figcaption{{color:#444;margin-top:.5em}} svg{{max-width:100%;height:auto}}\
         .skipped li{{color:#8a3b00}}</style></head><body>\n<h1>{}</h1>\n",
        escape(&data.title),
        escape(&data.title)
    );
    h.push_str("<section id=\"summary\"><h2>Summary</h2><ul>\n");
    for s in &data.summary {
        let _ = writeln!(h, "<li>{}</li>", escape(s));
    }
    h.push_str("</ul></section>\n");
    let mut current = "";
    for (section, name, caption, svg) in drawn {
        if section != current {
            let title = if section.is_empty() {
                "Over all targets".to_owned()
            } else {
                format!("Target: {section}")
            };
            let _ = writeln!(h, "<h2>{}</h2>", escape(&title));
            current = section;
        }
        let _ = writeln!(
            h,
            "<figure id=\"{name}\">{}<figcaption>{}</figcaption></figure>",
            svg.trim_start_matches(|c| c != '<'),
            escape(caption)
        );
    }
    // What more inputs would add comes last: the figures come first.
    if !skipped.is_empty() {
        h.push_str("<section class=\"skipped\"><h2>Not drawn</h2><ul>\n");
        for (name, reason) in skipped {
            let _ = writeln!(h, "<li><b>{}</b>: {}</li>", escape(name), escape(reason));
        }
        h.push_str("</ul></section>\n");
    }
    h.push_str("</body></html>\n");
    h
}

/// Parses an SVG with usvg, resolving `sans-serif` to an installed sans font (DejaVu Sans on
/// Debian) from the system's fonts, so that text turns into outlines.
pub fn parse_svg(svg: &str) -> Result<resvg::usvg::Tree, ReportError> {
    let mut options = resvg::usvg::Options::default();
    let db = options.fontdb_mut();
    db.load_system_fonts();
    let sans = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial"]
        .into_iter()
        .find(|family| {
            db.faces()
                .any(|f| f.families.iter().any(|(n, _)| n == family))
        });
    if let Some(family) = sans {
        db.set_sans_serif_family(family);
    }
    resvg::usvg::Tree::from_str(svg, &options).map_err(|e| ReportError::Render {
        figure: String::new(),
        message: e.to_string(),
    })
}

/// Renders an SVG to pixels with resvg (text through [`parse_svg`]).
pub fn rasterize(svg: &str) -> Result<resvg::tiny_skia::Pixmap, ReportError> {
    let tree = parse_svg(svg)?;
    let size = tree.size().to_int_size();
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(size.width(), size.height()).ok_or_else(|| {
            ReportError::Render {
                figure: String::new(),
                message: "the figure has no area".into(),
            }
        })?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    Ok(pixmap)
}
