// Realism for robots: slow rendering, a spinner before forms, a dismissable notice.
document.addEventListener("DOMContentLoaded", () => {
  const content = document.getElementById("content");
  const delay = content && Number(content.dataset.renderDelay || 0);
  if (delay) {
    setTimeout(() => {
      content.hidden = false;
      document.querySelector(".page-loading")?.remove();
    }, delay);
  }
  const spinner = document.getElementById("form-spinner");
  if (spinner) {
    const form = spinner.nextElementSibling;
    setTimeout(() => {
      spinner.remove();
      form.hidden = false;
    }, Number(spinner.dataset.spinnerMs || 0));
  }
  document.querySelector("[data-dismiss-notice]")?.addEventListener("click", () => {
    document.getElementById("system-notice-overlay").remove();
  });
  const code = document.getElementById("code");
  const unit = document.getElementById("unit");
  if (code && unit) {
    code.addEventListener("change", () => {
      const chosen = code.selectedOptions[0];
      if (chosen && chosen.dataset.unit && !unit.value) unit.placeholder = chosen.dataset.unit;
    });
  }
});
