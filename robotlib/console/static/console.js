// The only script: "select all" for the exception queue's checkboxes.
document.addEventListener("DOMContentLoaded", () => {
  for (const all of document.querySelectorAll("input[data-select-all]")) {
    all.addEventListener("change", () => {
      const form = all.closest("form") || document;
      for (const box of form.querySelectorAll("input[name=item]")) box.checked = all.checked;
    });
  }
});
