// radiops: the compare page. Two runs picked in the browser: what differs between them
// (computed at build time by radiops diff's rules, runner/site/compare.py) and their PSDs
// overlaid. Everything shown came from run records: it goes in as text nodes and numeric
// attributes only, never as HTML.
(function () {
  "use strict";
  var root = document.getElementById("radiops-compare");
  if (!root) {
    return;
  }
  var SVG = "http://www.w3.org/2000/svg";
  var COLORS = ["#3f51b5", "#e65100"];
  var W = 640, H = 320, LEFT = 64, RIGHT = 16, TOP = 16, BOTTOM = 44;
  var selectA = document.getElementById("radiops-compare-a");
  var selectB = document.getElementById("radiops-compare-b");
  var status = document.getElementById("radiops-compare-status");
  var diffBox = document.getElementById("radiops-compare-diff");
  var psdBox = document.getElementById("radiops-compare-psd");
  var pairs = {};
  var shownPair = 0;

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    if (cls) {
      node.className = cls;
    }
    return node;
  }
  function svgEl(tag, attributes) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attributes).forEach(function (name) {
      node.setAttribute(name, String(attributes[name]));
    });
    return node;
  }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) {
        throw new Error(url + ": HTTP " + response.status);
      }
      return response.json();
    });
  }
  function shown(value) {
    return value === null || value === undefined ? "—" : String(value);
  }
  function jsonOf(select, runId) {
    var found = Array.prototype.find.call(select.options, function (o) { return o.value === runId; });
    return new URL(found.getAttribute("data-json"), document.baseURI).href;
  }

  function renderDiff(diff) {
    diffBox.replaceChildren();
    diff.sections.forEach(function (section) {
      var heading = el("h3", section.section + (section.same ? ": the same" : ""));
      heading.className = section.same ? "radiops-same" : "radiops-differs";
      diffBox.appendChild(heading);
      if (section.items.length) {
        var table = el("table", null, "radiops-diff");
        var head = table.createTHead().insertRow();
        ["", "A", "B", "change", ""].forEach(function (name) { head.appendChild(el("th", name)); });
        var body = table.createTBody();
        section.items.forEach(function (item) {
          var row = body.insertRow();
          row.className = "radiops-diff-" + String(item.change).replace(/[^a-z]/g, "");
          [item.key, shown(item.a), shown(item.b), item.change, item.detail].forEach(function (text) {
            row.appendChild(el("td", text));
          });
        });
        diffBox.appendChild(table);
      }
      section.notes.forEach(function (note) { diffBox.appendChild(el("p", note, "radiops-note")); });
    });
  }

  function psdOf(runId, url) {
    return getJSON(url).then(function (info) {
      if (!info.psd.length) {
        return null;
      }
      var first = info.psd[0];
      return getJSON(new URL(first.points, url).href).then(function (points) {
        return { label: runId + " · " + first.output, unit: points.unit, x: points.x, y: points.y };
      });
    });
  }

  function span(values) {
    var low = Math.min.apply(null, values), high = Math.max.apply(null, values);
    return high > low ? [low, high] : [low - 1, high + 1];
  }
  function overlay(series) {
    var xs = [], ys = [];
    series.forEach(function (s) { xs = xs.concat(s.x); ys = ys.concat(s.y); });
    var sx = span(xs), sy = span(ys), pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
    var svg = svgEl("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "radiops-overlay", "font-size": 11 });
    svg.appendChild(svgEl("rect", { x: LEFT, y: TOP, width: pw, height: ph, fill: "none", stroke: "#999" }));
    series.forEach(function (s, index) {
      var points = s.x.map(function (x, i) {
        var px = LEFT + (x - sx[0]) / (sx[1] - sx[0]) * pw;
        var py = TOP + (1 - (s.y[i] - sy[0]) / (sy[1] - sy[0])) * ph;
        return px.toFixed(1) + "," + py.toFixed(1);
      }).join(" ");
      svg.appendChild(svgEl("polyline", { points: points, fill: "none", stroke: COLORS[index], "stroke-width": 1.2, "class": "radiops-psd-line" }));
      var legend = svgEl("text", { x: LEFT + 8, y: TOP + 14 + 14 * index, fill: COLORS[index] });
      legend.textContent = (index ? "B: " : "A: ") + s.label;
      svg.appendChild(legend);
    });
    var axis = svgEl("text", { x: LEFT + pw / 2, y: H - 8, "text-anchor": "middle" });
    axis.textContent = "frequency (" + series[0].unit + ") from " + sx[0].toPrecision(6) + " to " + sx[1].toPrecision(6) +
      "; power " + sy[0].toFixed(1) + " to " + sy[1].toFixed(1) + " dB/Hz";
    svg.appendChild(axis);
    psdBox.replaceChildren(svg);
  }

  function update() {
    var a = selectA.value, b = selectB.value;
    diffBox.replaceChildren();
    psdBox.replaceChildren();
    if (a === b) {
      status.textContent = "Pick two different runs.";
      return;
    }
    var older = a < b ? a : b, newer = a < b ? b : a;
    var diff = pairs[older + " " + newer];
    if (!diff) {
      status.textContent = "No diff for this pair on the site: run radiops diff " + older + " " + newer;
      return;
    }
    status.textContent = "A: " + older + ", B: " + newer + " (A is the older run)";
    renderDiff(diff);
    var ticket = ++shownPair;
    Promise.all([psdOf(older, jsonOf(selectA, older)), psdOf(newer, jsonOf(selectB, newer))])
      .then(function (found) {
        if (ticket !== shownPair) {
          return;
        }
        var series = found.filter(function (s) { return s !== null && s.x.length; });
        if (!series.length) {
          psdBox.appendChild(el("p", "Neither run has a plotted recording."));
          return;
        }
        overlay(series);
        if (series.length < 2) {
          psdBox.appendChild(el("p", "Only one of the two runs has a plotted recording."));
        }
      })
      .catch(function (error) {
        psdBox.replaceChildren(el("p", "PSDs not shown: " + error.message));
      });
  }

  getJSON(new URL(root.getAttribute("data-pairs"), document.baseURI).href)
    .then(function (data) {
      pairs = data.pairs;
      selectA.addEventListener("change", update);
      selectB.addEventListener("change", update);
      update();
    })
    .catch(function (error) {
      status.textContent = "The diffs could not be loaded: " + error.message;
    });
})();
