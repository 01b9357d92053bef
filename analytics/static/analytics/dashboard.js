/* Draws the analytics dashboard's charts from the JSON the page embeds (#analytics-dashboard-data), with the
   vendored Chart.js (chart.umd.min.js, loaded before this file). Every chart takes the API's one chart shape:
   {x: [...labels], series: [{name, data}], unit}.
   chart.umd.min.js is Chart.js 4.6.1 (MIT, see chart.js.LICENSE.md): dist/chart.umd.min.js of the npm package
   chart.js@4.6.1, its last line (//# sourceMappingURL) removed since the map is not shipped. */
(function () {
  "use strict";

  var PALETTE = ["#417690", "#e0823d", "#4caf50", "#d64541", "#8e6bbf", "#c9a227", "#3fa7a3", "#79aec8"];
  // Colours follow meaning, so "failed" is red in every chart.
  var KEY_COLOURS = {
    recruiting: "#79aec8", in_progress: "#e0823d", completed: "#4caf50",
    queued: "#9e9e9e", running: "#417690", succeeded: "#4caf50", failed: "#d64541", cancelled: "#c9a227",
    projects_created: "#417690", users_registered: "#e0823d",
    jobs_created: "#417690", jobs_succeeded: "#4caf50", jobs_failed: "#d64541", datasets_uploaded: "#8e6bbf"
  };

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function colourFor(index, key) {
    return (key && KEY_COLOURS[key]) || PALETTE[index % PALETTE.length];
  }

  // A doughnut of zeros draws nothing at all: say so in its middle.
  function emptyNote(text) {
    return {
      id: "analyticsEmpty",
      afterDraw: function (chart) {
        var values = chart.data.datasets.reduce(function (all, d) { return all.concat(d.data); }, []);
        if (values.some(function (v) { return v; })) { return; }
        var area = chart.chartArea, ctx = chart.ctx;
        ctx.save();
        ctx.fillStyle = cssVar("--body-quiet-color", "#666");
        ctx.font = "14px " + getComputedStyle(document.body).fontFamily;
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.fillText(text, (area.left + area.right) / 2, (area.top + area.bottom) / 2);
        ctx.restore();
      }
    };
  }

  function configFor(type, shape, keys, i18n) {
    var unit = shape.unit || "";
    var datasets = shape.series.map(function (series, index) {
      var base = { label: series.name, data: series.data };
      if (type === "doughnut" || type === "bar") {
        base.backgroundColor = shape.x.map(function (_label, i) { return colourFor(i, keys && keys[i]); });
        base.borderWidth = type === "doughnut" ? 2 : 0;
        base.borderColor = cssVar("--body-bg", "#fff");
        if (type === "bar") { base.borderRadius = 3; base.maxBarThickness = 48; }
      } else {
        var colour = colourFor(index, keys && keys[index]);
        base.borderColor = colour;
        base.backgroundColor = colour + "33";
        base.pointRadius = shape.x.length > 60 ? 0 : 2;
        base.tension = 0;
        base.fill = shape.series.length === 1;
      }
      return base;
    });
    var text = cssVar("--body-quiet-color", "#666");
    var grid = cssVar("--hairline-color", "#e8e8e8");
    var options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: {
        legend: { display: type !== "bar", position: type === "doughnut" ? "right" : "top", labels: { color: text } },
        tooltip: {
          callbacks: {
            label: function (context) {
              var value = context.parsed && typeof context.parsed === "object" ? context.parsed.y : context.parsed;
              var name = type === "line" ? context.dataset.label : context.label;
              return name + ": " + value + (unit ? " " + unit : "");
            }
          }
        }
      }
    };
    if (type !== "doughnut") {
      options.scales = {
        x: { ticks: { color: text, maxRotation: 0, autoSkip: true }, grid: { display: false } },
        y: {
          beginAtZero: true,
          ticks: { color: text, precision: 0 },
          grid: { color: grid },
          title: { display: Boolean(unit), text: unit, color: text }
        }
      };
    } else {
      options.cutout = "58%";
    }
    return {
      type: type,
      data: { labels: shape.x, datasets: datasets },
      options: options,
      plugins: type === "doughnut" ? [emptyNote(i18n.no_data || "")] : []
    };
  }

  function draw() {
    var source = document.getElementById("analytics-dashboard-data");
    if (!source || typeof window.Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var keys = data.keys || {};
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var name = canvas.getAttribute("data-chart");
      var shape = data.charts[name];
      if (!shape) { return; }
      var type = canvas.getAttribute("data-type") || "line";
      new window.Chart(canvas, configFor(type, shape, keys[name], data.i18n || {}));
    });
  }

  // The from / to dates matter only for a custom range: shown with it, and picking one chooses it.
  function linkRangeAndDates() {
    var range = document.getElementById("id_range");
    var dates = document.querySelectorAll(".analytics-field-start, .analytics-field-end");
    if (!range) { return; }
    function sync() {
      var custom = range.value === "custom";
      dates.forEach(function (field) {
        var input = field.querySelector("input");
        field.hidden = !custom && !field.classList.contains("errors");
        if (input) { input.disabled = !custom; }
      });
    }
    range.addEventListener("change", sync);
    sync();
  }

  function start() {
    linkRangeAndDates();
    draw();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
