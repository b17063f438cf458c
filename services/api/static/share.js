// Watch page: the "Copy" buttons next to the link and the embed snippet. Each names the field it
// copies in `data-copy`; without the clipboard API (plain http on another host than localhost)
// the field's text is selected for the viewer to copy.
for (const button of document.querySelectorAll('button[data-copy]')) {
  const field = document.getElementById(button.dataset.copy);
  const label = button.textContent;
  button.addEventListener('click', async () => {
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Press Ctrl+C';
    }
    setTimeout(() => { button.textContent = label; }, 2000);
  });
}
