// A small modal choice dialog: choose(title, text, [{label, value}]) resolves to the value of
// the button pressed, or null on Esc / Cancel. While it is open, the page's shortcuts pause.

export function dialogOpen() {
  return !!document.querySelector('#dialog:not([hidden])');
}

export function choose(title, text, choices) {
  const box = document.getElementById('dialog');
  const buttons = document.getElementById('dialog-buttons');
  document.getElementById('dialog-title').textContent = title;
  document.getElementById('dialog-text').textContent = text;
  return new Promise((resolve) => {
    const done = (value) => {
      box.hidden = true;
      box.removeEventListener('keydown', onKey);
      buttons.replaceChildren();
      resolve(value);
    };
    const onKey = (ev) => {
      if (ev.key === 'Escape') { ev.preventDefault(); ev.stopPropagation(); done(null); }
    };
    buttons.replaceChildren(...[...choices, { label: 'Cancel', value: null }].map((c) => {
      const b = document.createElement('button');
      b.textContent = c.label;
      if (c.value !== null) b.dataset.choice = c.value;
      else b.dataset.choice = 'cancel';
      b.addEventListener('click', () => done(c.value));
      return b;
    }));
    box.addEventListener('keydown', onKey);
    box.hidden = false;
    buttons.firstChild.focus();
  });
}
