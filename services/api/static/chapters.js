// Watch page: a video's chapters (on the original timeline) marked on the seek bar, listed
// beside the player (a click seeks there; the current one is highlighted), and handed to the
// video element as a WebVTT chapters track for the browser's own use.
import { chapterAt, playerChapters } from './player_time.js';
import { clock } from './time.js';

// `offset`: where the player's time 0 is on the original timeline; `length()`: how long what
// the player plays is (NaN while unknown). Returns the title of the chapter at a moment of the
// player's timeline ('' when none), for the seek bar's preview.
export function showChapters({ element, chapters, offset, length, trackUrl }) {
  if (!chapters || chapters.length === 0) return () => '';
  const marks = document.getElementById('chapter-marks');
  const box = document.getElementById('chapters');
  const list = document.getElementById('chapter-list');
  let shown = [];
  let current = -1;

  const track = document.createElement('track');
  track.kind = 'chapters';
  track.label = 'Chapters';
  track.srclang = 'en';
  track.src = trackUrl;
  track.default = true;
  element.appendChild(track);

  function highlight() {
    const at = chapterAt(shown.map((c) => ({ start_s: c.at })), element.currentTime);
    if (at === current || !list) return;
    current = at;
    list.querySelectorAll('button').forEach((button, i) => {
      button.classList.toggle('current', i === at);
      if (i === at) button.setAttribute('aria-current', 'true');
      else button.removeAttribute('aria-current');
    });
  }

  function render() {
    shown = playerChapters(chapters, offset, length());
    const total = length();
    if (marks) {
      marks.replaceChildren(...(Number.isFinite(total) && total > 0 ? shown : []).map((chapter) => {
        const mark = document.createElement('span');
        mark.className = 'chapter-mark';
        mark.style.left = `${(100 * chapter.at) / total}%`;
        mark.dataset.at = String(chapter.at);
        mark.title = chapter.title;
        return mark;
      }));
    }
    if (list && box) {
      list.replaceChildren(...shown.map((chapter) => {
        const item = document.createElement('li');
        const button = document.createElement('button');
        button.type = 'button';
        button.dataset.at = String(chapter.at);
        const time = document.createElement('span');
        time.className = 'chapter-time';
        time.textContent = clock(chapter.at);
        const title = document.createElement('span');
        title.className = 'chapter-title';
        title.textContent = chapter.title;
        button.append(time, title);
        button.setAttribute('aria-label', `${chapter.title}, at ${clock(chapter.at)}`);
        button.addEventListener('click', () => { element.currentTime = chapter.at; });
        item.appendChild(button);
        return item;
      }));
      box.classList.toggle('hidden', shown.length === 0);
      document.getElementById('watch-layout')?.classList.toggle('has-chapters', shown.length > 0);
    }
    current = -1;
    highlight();
    window.vodnestPlayer.chapters = shown;
  }

  element.addEventListener('durationchange', render);
  element.addEventListener('timeupdate', highlight);
  element.addEventListener('seeked', highlight);
  render();
  return (seconds) => {
    const at = chapterAt(shown.map((c) => ({ start_s: c.at })), seconds);
    return at >= 0 ? shown[at].title : '';
  };
}
