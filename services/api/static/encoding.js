// The renditions a video is still getting (the video object's `encoding`), in words, for every
// page: "480p and 360p in ~6 min", or "480p and 360p … 42 %" while there is no estimate.
import { roughly } from './time.js';

// "480p", "480p and 360p", "720p, 480p and 360p".
function listed(names) {
  if (names.length < 2) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

export function encodingText(encoding) {
  const what = listed(encoding.renditions) || 'More qualities';
  if (encoding.eta_s !== null && encoding.eta_s !== undefined) return `${what} in ${roughly(encoding.eta_s)}`;
  return `${what} … ${Math.round(encoding.progress * 100)} %`;
}

// Shows `encoding` in `element` (its `[data-role=encoding-text]` child if it has one), or hides
// the element when there is none.
export function showEncoding(element, encoding) {
  element.classList.toggle('hidden', !encoding);
  if (!encoding) return;
  const text = element.querySelector('[data-role=encoding-text]') || element;
  text.textContent = encodingText(encoding);
}
