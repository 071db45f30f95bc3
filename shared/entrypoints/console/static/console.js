// Progressive enhancement of the console: every page works without this file.
// Served from the console itself (script-src 'self'); no inline script anywhere.
"use strict";

// A run still under way refreshes its progress from /runs/<id>/progress.json every 3 s.
function followRunProgress(section) {
  const url = section.dataset.liveProgress;
  const set = (field, value) => {
    section.querySelectorAll(`[data-field="${field}"]`).forEach((el) => {
      if (el.tagName === "PROGRESS") {
        el.max = Math.max(value.payouts, 1);
        el.value = value.final;
      } else {
        el.textContent = value[field] !== undefined ? Number(value[field]).toLocaleString("en") : el.textContent;
      }
    });
  };
  const tick = async () => {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const run = await response.json();
      const progress = run.progress;
      set("progress", progress);
      ["final", "payouts", "pages_done", "pages_total"].forEach((field) => set(field, progress));
      const duration = section.querySelector('[data-field="duration"]');
      if (duration && run.duration_text) duration.textContent = run.duration_text;
      if (run.status === "completed") {
        window.location.reload();
        return;
      }
    } catch (error) {
      console.warn("run progress not refreshed", error);
    }
    window.setTimeout(tick, 3000);
  };
  window.setTimeout(tick, 3000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live-progress]").forEach(followRunProgress);
});
