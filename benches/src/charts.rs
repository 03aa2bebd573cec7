//! The charts of a run: one SVG per group of scenarios (publish, pub→sub, request latency,
//! requests in flight, JetStream, key-value, object store, WebSocket, memory, contention),
//! written in `bench-charts/` beside the document and linked from it. A scenario is a
//! cluster of horizontal bars, one per arm: ours and async-nats on each runtime the scenario
//! ran on, then the raw socket. A bar ends at the median of the repetitions, its whisker
//! spans the least to the greatest, and its label gives the median (ours: with its ratio to
//! the raw socket, else to async-nats). A group of rates or memory figures whose medians
//! span more than a factor of [`LOG_SPAN`] gets a logarithmic axis (decades for rates,
//! powers of 4 for bytes); latency and throughput axes are linear from zero. Drawn with
//! plotters' SVG backend.

use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::{fmt_value, median, Row, Runtime, Sample, Unit};

/// The folder of the charts, beside the document; the document's links are relative to it.
pub(crate) const DIR: &str = "bench-charts";

/// Rates or memory figures whose medians span more than this factor get a log axis.
const LOG_SPAN: f64 = 8.0;

/// A chart: the rows it draws and how it is titled.
struct Group {
    /// The file name, without `.svg`.
    slug: &'static str,
    title: &'static str,
    /// What the value axis counts.
    axis: &'static str,
    unit: Unit,
    /// Whether a row of `unit` belongs here, by its scenario.
    holds: fn(&str) -> bool,
}

fn over_ws(s: &str) -> bool {
    s.contains("ws://")
}

fn request_latency(s: &str) -> bool {
    !over_ws(s)
        && ["request latency", "plain request", "service request"]
            .iter()
            .any(|p| s.starts_with(p))
}

/// Every chart, in the order the document shows them.
const GROUPS: [Group; 12] = [
    Group {
        slug: "publish",
        title: "Publish: messages per second (higher is better)",
        axis: "messages per second",
        unit: Unit::Rate,
        holds: |s| s.starts_with("publish ") && !over_ws(s),
    },
    Group {
        slug: "pubsub",
        title: "pub→sub and receive: messages received per second (higher is better)",
        axis: "messages per second",
        unit: Unit::Rate,
        holds: |s| s.starts_with("pub→sub") || s.starts_with("receive"),
    },
    Group {
        slug: "request-latency",
        title: "Request latency, 16 B (lower is better)",
        axis: "µs per request",
        unit: Unit::Micros,
        holds: request_latency,
    },
    Group {
        slug: "requests-in-flight",
        title: "64 requests in flight: requests per second (higher is better)",
        axis: "requests per second",
        unit: Unit::Rate,
        holds: |s| s.starts_with("requests, "),
    },
    Group {
        slug: "jetstream",
        title:
            "JetStream publish 128 B, 256 acks in flight: messages per second (higher is better)",
        axis: "messages per second",
        unit: Unit::Rate,
        holds: |s| s.starts_with("JetStream"),
    },
    Group {
        slug: "kv",
        title: "Key-value put and watch: operations per second (higher is better)",
        axis: "operations per second",
        unit: Unit::Rate,
        holds: |s| s.starts_with("KV"),
    },
    Group {
        slug: "kv-latency",
        title: "Key-value get latency (lower is better)",
        axis: "µs per get",
        unit: Unit::Micros,
        holds: |s| s.starts_with("KV"),
    },
    Group {
        slug: "object-store",
        title: "Object store: throughput (higher is better)",
        axis: "MB/s (10^6 bytes per second)",
        unit: Unit::Throughput,
        holds: |s| s.starts_with("object"),
    },
    Group {
        slug: "websocket",
        title:
            "WebSocket publish, beside the same over TCP: messages per second (higher is better)",
        axis: "messages per second",
        unit: Unit::Rate,
        holds: over_ws,
    },
    Group {
        slug: "websocket-latency",
        title: "WebSocket request latency, beside the same over TCP (lower is better)",
        axis: "µs per request",
        unit: Unit::Micros,
        holds: over_ws,
    },
    Group {
        slug: "memory",
        title: "Memory (lower is better)",
        axis: "bytes",
        unit: Unit::Bytes,
        holds: |_| true,
    },
    Group {
        slug: "contention",
        title:
            "Contention: 16 B publishes per second from tasks sharing a client (higher is better)",
        axis: "messages per second",
        unit: Unit::Rate,
        holds: |s| s.starts_with("contention"),
    },
];

/// An arm as the charts tell them apart: by client and runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Series {
    Ours(Runtime),
    Theirs(Runtime),
    Raw,
}

impl Series {
    /// Every series, in the order of a cluster's bars and of the legend: each runtime's
    /// ours beside its async-nats, the raw socket last.
    const ALL: [Series; 6] = [
        Series::Ours(Runtime::MultiThread),
        Series::Theirs(Runtime::MultiThread),
        Series::Ours(Runtime::CurrentThread),
        Series::Theirs(Runtime::CurrentThread),
        Series::Ours(Runtime::Smol),
        Series::Raw,
    ];

    fn label(self) -> String {
        match self {
            Series::Ours(r) => format!("ours, {}", r.label()),
            Series::Theirs(r) => format!("async-nats, {}", r.label()),
            Series::Raw => "raw socket".into(),
        }
    }

    /// Ours in blues, async-nats in oranges, darker on multi-thread; the raw socket grey.
    fn color(self) -> RGBColor {
        match self {
            Series::Ours(Runtime::MultiThread) => RGBColor(33, 102, 172),
            Series::Ours(Runtime::CurrentThread) => RGBColor(67, 147, 195),
            Series::Ours(Runtime::Smol) => RGBColor(146, 197, 222),
            Series::Theirs(Runtime::MultiThread) => RGBColor(214, 96, 77),
            Series::Theirs(_) => RGBColor(244, 165, 130),
            Series::Raw => RGBColor(150, 150, 150),
        }
    }

    fn order(self) -> usize {
        Series::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// One bar: an arm's median and the range of its repetitions.
struct Bar {
    series: Series,
    median: f64,
    min: f64,
    max: f64,
    /// The label after the whisker.
    label: String,
}

/// A scenario's bars.
struct Cluster {
    label: String,
    bars: Vec<Bar>,
}

/// The median, least and greatest value of `samples`, none when there are none.
fn spread(samples: &[Sample]) -> Option<(f64, f64, f64)> {
    let mut values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    let m = median(&mut values);
    // `median` sorted them.
    Some((m, *values.first()?, *values.last()?))
}

/// A bar's figure: the table's, with a decimal more for rates under 100k.
fn value_label(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Rate if v < 1e3 => format!("{v:.0}/s"),
        Unit::Rate if v < 1e5 => format!("{:.1}k/s", v / 1e3),
        _ => fmt_value(v, unit),
    }
}

/// A scenario's label, the unit left to the axis.
fn scenario_label(scenario: &str) -> String {
    scenario.trim_end_matches(" (µs)").to_owned()
}

/// The group's rows as clusters, one per scenario in the order the rows came.
fn clusters(group: &Group, rows: &[Row]) -> Vec<Cluster> {
    let mut clusters: Vec<Cluster> = Vec::new();
    for row in rows
        .iter()
        .filter(|r| r.unit == group.unit && (group.holds)(&r.scenario))
    {
        let label = scenario_label(&row.scenario);
        let at = match clusters.iter().position(|c| c.label == label) {
            Some(at) => at,
            None => {
                clusters.push(Cluster {
                    label,
                    bars: Vec::new(),
                });
                clusters.len() - 1
            }
        };
        let bars = &mut clusters[at].bars;
        let raw = spread(&row.raw);
        let theirs = spread(&row.theirs);
        if let Some((median, min, max)) = spread(&row.ours) {
            let mut label = value_label(median, row.unit);
            if let Some((r, ..)) = raw.filter(|r| r.0 > 0.0) {
                label.push_str(&format!(" · {:.2}× raw", median / r));
            } else if let Some((t, ..)) = theirs.filter(|t| t.0 > 0.0) {
                label.push_str(&format!(" · {:.2}× async-nats", median / t));
            }
            bars.push(Bar {
                series: Series::Ours(row.runtime),
                median,
                min,
                max,
                label,
            });
        }
        if let Some((median, min, max)) = theirs {
            bars.push(Bar {
                series: Series::Theirs(row.runtime),
                median,
                min,
                max,
                label: value_label(median, row.unit),
            });
        }
        // The runtime rows of a scenario share one raw arm: one bar.
        if let Some((median, min, max)) = raw {
            if !bars.iter().any(|b| b.series == Series::Raw) {
                bars.push(Bar {
                    series: Series::Raw,
                    median,
                    min,
                    max,
                    label: value_label(median, row.unit),
                });
            }
        }
    }
    for cluster in &mut clusters {
        cluster.bars.sort_by_key(|b| b.series.order());
        cluster.bars.retain(|b| b.median.is_finite());
    }
    clusters.retain(|c| !c.bars.is_empty());
    clusters
}

/// `text` in lines of at most about `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

/// `v` with at most `decimals` decimals, trailing zeros dropped.
fn trimmed(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// The value axis's tick labels: `2.5M`, `250k`, `120`, `1.5 MiB`.
fn tick(v: f64, unit: Unit) -> String {
    match unit {
        _ if v == 0.0 => "0".into(),
        Unit::Rate if v >= 1e6 => format!("{}M", trimmed(v / 1e6, 2)),
        Unit::Rate if v >= 1e3 => format!("{}k", trimmed(v / 1e3, 1)),
        Unit::Rate | Unit::Micros => trimmed(v, 1),
        Unit::Throughput => trimmed(v / 1e6, 0),
        Unit::Bytes if v >= 1048576.0 => format!("{} MiB", trimmed(v / 1048576.0, 1)),
        Unit::Bytes if v >= 1024.0 => format!("{} KiB", trimmed(v / 1024.0, 1)),
        Unit::Bytes => format!("{} B", trimmed(v, 0)),
    }
}

/// A sans-serif font `px` pixels high in the SVG (plotters writes 1/1.24 of the size it
/// is given).
fn font(px: f64) -> FontDesc<'static> {
    ("sans-serif", px * 1.24).into_font()
}

/// Pixel sizes of a chart.
const WIDTH: u32 = 1100;
/// The left area, where the scenarios' labels go.
const LABELS: u32 = 290;
/// The height of one bar's slot, and the gap between two clusters (in slots).
const SLOT: u32 = 19;
const GAP: f64 = 0.7;
/// The title's height, where the legend's first line begins, and a legend line's height.
const TITLE: i32 = 36;
const LEGEND_LINE: i32 = 20;
/// The value axis's labels and description below the plot.
const AXIS: u32 = 52;
/// Room right of the longest whisker for its label, in pixels of the plot.
const LABEL_ROOM: f64 = 200.0;

type Error = Box<dyn std::error::Error>;

/// Draws every group that has rows into `dir` (created if need be) and returns the
/// Markdown that shows them, linked relative to the document beside `dir`. A chart that
/// cannot be written is reported on stderr and left out; the file of a group without
/// rows in this run is removed, so no chart of an earlier run stays beside the document.
pub(crate) fn write(dir: &Path, rows: &[Row]) -> String {
    let mut markdown = String::new();
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("compare: cannot create {}: {e}", dir.display());
        return markdown;
    }
    for group in &GROUPS {
        let path = dir.join(format!("{}.svg", group.slug));
        let clusters = clusters(group, rows);
        if clusters.is_empty() {
            std::fs::remove_file(&path).ok();
            continue;
        }
        match draw(group, &clusters, &path) {
            Ok(()) => {
                markdown.push_str(&format!("![{}]({DIR}/{}.svg)\n\n", group.title, group.slug));
                eprintln!("compare: wrote {}", path.display());
            }
            Err(e) => eprintln!("compare: cannot draw {}: {e}", path.display()),
        }
    }
    markdown
}

/// One group's chart, on a linear or a logarithmic axis.
fn draw(group: &Group, clusters: &[Cluster], path: &Path) -> Result<(), Error> {
    let bars = clusters.iter().flat_map(|c| &c.bars);
    let medians = bars.clone().map(|b| b.median).filter(|v| *v > 0.0);
    let span = medians.clone().fold(0.0, f64::max) / medians.fold(f64::INFINITY, f64::min);
    let least = bars
        .clone()
        .flat_map(|b| [b.min, b.median])
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let most = bars.flat_map(|b| [b.max, b.median]).fold(0.0, f64::max);
    let slots: f64 = clusters.iter().map(|c| c.bars.len() as f64).sum::<f64>()
        + GAP * (clusters.len() as f64 + 1.0);
    let placed = legend(clusters);
    let header = placed.last().map_or(TITLE, |(_, (_, y))| y + LEGEND_LINE) + 6;
    let height = header as u32 + AXIS + 20 + (slots * SLOT as f64).ceil() as u32;
    // The plot's share of the width that the bars may use, the rest left for labels.
    let plot = f64::from(WIDTH - LABELS - 20);
    let stretch = plot / (plot - LABEL_ROOM);
    let base = match group.unit {
        Unit::Rate => 10.0,
        Unit::Bytes => 4.0,
        Unit::Micros | Unit::Throughput => f64::INFINITY,
    };
    let log = base.is_finite() && least.is_finite() && span > LOG_SPAN;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(header);
    top.draw(&Text::new(
        group.title,
        (12, 8),
        font(17.0).style(FontStyle::Bold),
    ))?;
    draw_legend(&top, &placed)?;
    let axis = format!(
        "{}{}",
        group.axis,
        if log { " (logarithmic scale)" } else { "" }
    );
    if log {
        // From the power of `base` at or below the least figure.
        let floor = base.powf((least.ln() / base.ln()).floor());
        let top = (floor.ln() + (most.ln() - floor.ln()) * stretch).exp();
        plot_bars(
            &body,
            group,
            clusters,
            (floor..top).log_scale().base(base),
            floor,
            slots,
            &axis,
        )
    } else {
        plot_bars(
            &body,
            group,
            clusters,
            0.0..most * stretch,
            0.0,
            slots,
            &axis,
        )
    }?;
    root.present()?;
    Ok(())
}

/// The series the chart shows, each a swatch and its name, laid out in lines under the
/// title: each series with the top-left corner of its swatch.
fn legend(clusters: &[Cluster]) -> Vec<(Series, (i32, i32))> {
    let (mut x, mut y) = (12, TITLE);
    let mut placed = Vec::new();
    for series in Series::ALL {
        if !clusters
            .iter()
            .any(|c| c.bars.iter().any(|b| b.series == series))
        {
            continue;
        }
        // A swatch, its name at about 0.6 em a character, a space.
        let width = 17 + (7.8 * series.label().chars().count() as f64) as i32 + 20;
        if x > 12 && x + width > WIDTH as i32 - 12 {
            (x, y) = (12, y + LEGEND_LINE);
        }
        placed.push((series, (x, y)));
        x += width;
    }
    placed
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    placed: &[(Series, (i32, i32))],
) -> Result<(), Error>
where
    DB::ErrorType: 'static,
{
    let style = font(13.0)
        .into_text_style(area)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for &(series, (x, y)) in placed {
        area.draw(&Rectangle::new(
            [(x, y), (x + 12, y + 12)],
            series.color().filled(),
        ))?;
        area.draw(&Text::new(series.label(), (x + 17, y + 6), style.clone()))?;
    }
    Ok(())
}

/// The plot: the value axis `x` (from `start`, where the bars begin), the clusters top to
/// bottom over `slots` slots, the scenarios' labels left of the axis.
fn plot_bars<DB, X>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    group: &Group,
    clusters: &[Cluster],
    x: X,
    start: f64,
    slots: f64,
    axis: &str,
) -> Result<(), Error>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .margin_right(20)
        .margin_bottom(8)
        .x_label_area_size(AXIS)
        .y_label_area_size(LABELS)
        .build_cartesian_2d(x, 0.0..slots)?;
    let unit = group.unit;
    let formatter = move |v: &f64| tick(*v, unit);
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(10)
        .x_label_formatter(&formatter)
        .x_desc(axis)
        .x_max_light_lines(4)
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(210, 210, 210))
        .label_style(font(13.0))
        .axis_desc_style(font(14.0))
        .draw()?;
    let label_style = font(12.5)
        .into_text_style(area)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let scenario_style = font(14.0)
        .into_text_style(area)
        .pos(Pos::new(HPos::Right, VPos::Center));
    // Slots count down from the top.
    let mut top = slots - GAP;
    for (i, cluster) in clusters.iter().enumerate() {
        let n = cluster.bars.len() as f64;
        if i > 0 {
            let y = top + GAP / 2.0;
            let right = chart.x_range().end;
            chart.draw_series(std::iter::once(PathElement::new(
                [(start, y), (right, y)],
                RGBColor(200, 200, 200),
            )))?;
        }
        for (j, bar) in cluster.bars.iter().enumerate() {
            let (y0, y1) = (top - j as f64 - 0.88, top - j as f64 - 0.12);
            let mid = (y0 + y1) / 2.0;
            let end = bar.median.max(start);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(start, y0), (end, y1)],
                bar.series.color().filled(),
            )))?;
            if bar.max > bar.min {
                chart.draw_series(std::iter::once(ErrorBar::new_horizontal(
                    mid,
                    bar.min.max(start),
                    end,
                    bar.max,
                    BLACK.stroke_width(1),
                    7,
                )))?;
            }
            chart.draw_series(std::iter::once(
                EmptyElement::at((bar.max.max(end), mid))
                    + Text::new(bar.label.clone(), (6, 0), label_style.clone()),
            ))?;
        }
        // The scenario's name, right-aligned left of the axis, centred on its bars.
        let (left, centre) = chart.backend_coord(&(start, top - n / 2.0));
        let (left, centre) = (
            left - area.get_base_pixel().0,
            centre - area.get_base_pixel().1,
        );
        let lines = wrap(&cluster.label, 34);
        let first = centre - 8 * (lines.len() as i32 - 1);
        for (k, line) in lines.into_iter().enumerate() {
            area.draw(&Text::new(
                line,
                (left - 10, first + 16 * k as i32),
                scenario_style.clone(),
            ))?;
        }
        top -= n + GAP;
    }
    Ok(())
}
