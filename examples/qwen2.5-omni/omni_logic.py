"""omni_logic.py - the model-free part of the Qwen2.5-Omni node, in numpy, tested in CI.

Everything here is about bookkeeping, not about the model: which positions of Qwen2.5-Omni's
input sequence hold the video and audio tokens sieve kept, how the multiple-choice prompt is
written, how a letter is read back from free text, and how answers are scored. The node
(qwen_omni_node.py) adds the model around these functions.

Token layout this relies on (Qwen2.5-Omni's processor with use_audio_in_video=True): the
processor expands each video into one placeholder token (`video_token_id`) per merged vision
token and each audio stream into one placeholder (`audio_token_id`) per audio token (25 per
second), and interleaves them in 2-second chunks (TMRoPE): the video tokens of chunk 0, the
audio tokens of chunk 0, the video tokens of chunk 1, and so on. Within the video tokens the
order is the vision encoder's output order, (t, h, w) row-major over the merged grid; within the
audio tokens it is time order. Interleaving changes where the blocks sit, not the order of
either modality, so the k-th video placeholder in reading order is merged vision token k and
the j-th audio placeholder is audio token j. sieve's `full_index` uses exactly these two
numberings (vision: t*h*w row-major over the merged grid; audio: the token sequence), so the
mapping is an order-of-appearance lookup, checked against the counts.
"""

import re

import numpy as np

LETTERS = "ABCDEF"


class LayoutError(ValueError):
    """sieve's tokens and the processor's sequence disagree (other fps, resize or audio rate)."""


def kept_from_fused(modality, full_index, grid):
    """Kept vision and audio token numbers from a fuse-bidirectional bundle's `modality`
    (0 video, 1 audio), `full_index` and `grid` [t, h, w]: (sorted vision indices, sorted audio
    indices, (t, h, w))."""
    modality = np.asarray(modality)
    full_index = np.asarray(full_index, dtype=np.int64)
    if modality.shape != full_index.shape:
        raise LayoutError("modality %r and full_index %r differ in shape"
                          % (modality.shape, full_index.shape))
    g = tuple(int(x) for x in np.asarray(grid).reshape(-1)[:3])
    return (np.unique(full_index[modality == 0]), np.unique(full_index[modality == 1]), g)


def keep_mask(input_ids, video_token_id, audio_token_id, kept_video, kept_audio,
              n_video=None, n_audio=None):
    """A boolean mask over the sequence: True for every position the LLM should see.

    Text and special tokens are always kept; the k-th video placeholder is kept when k is in
    `kept_video`, the j-th audio placeholder when j is in `kept_audio`. `n_video` / `n_audio`
    (the full token counts sieve saw, e.g. t*h*w of its grid) are checked against the
    sequence when given. Raises LayoutError on a mismatch or an index out of range."""
    ids = np.asarray(input_ids).reshape(-1)
    vpos = np.flatnonzero(ids == video_token_id)
    apos = np.flatnonzero(ids == audio_token_id)
    for name, pos, n in (("video", vpos, n_video), ("audio", apos, n_audio)):
        if n is not None and pos.size != n:
            raise LayoutError("the sequence has %d %s tokens, sieve saw %d (decode and encode "
                              "must match the processor's fps, pixels and audio rate)"
                              % (pos.size, name, n))
    kv = np.asarray(kept_video, dtype=np.int64)
    ka = np.asarray(kept_audio, dtype=np.int64)
    if kv.size and (kv.min() < 0 or kv.max() >= vpos.size):
        raise LayoutError("kept vision index %d outside %d video tokens"
                          % (int(kv.max() if kv.max() >= vpos.size else kv.min()), vpos.size))
    if ka.size and (ka.min() < 0 or ka.max() >= apos.size):
        raise LayoutError("kept audio index %d outside %d audio tokens"
                          % (int(ka.max() if ka.max() >= apos.size else ka.min()), apos.size))
    mask = np.ones(ids.size, dtype=bool)
    mask[vpos] = False
    mask[apos] = False
    mask[vpos[kv]] = True
    mask[apos[ka]] = True
    return mask


def prompt(question, choices):
    """The multiple-choice prompt, WorldSense style: the question, one line per choice with its
    letter, and the instruction to answer with the letter only."""
    if not 2 <= len(choices) <= len(LETTERS):
        raise ValueError("%d choices (2 to %d)" % (len(choices), len(LETTERS)))
    lines = [str(question).strip()]
    for letter, text in zip(LETTERS, choices):
        text = str(text).strip()
        # Choices that already carry their letter ("A. ...") keep it once.
        text = re.sub(r"^\(?%s[.):]\s*" % letter, "", text)
        lines.append("%s. %s" % (letter, text))
    lines.append("Answer with the option's letter from the given choices directly.")
    return "\n".join(lines)


def parse_letter(text, n_choices=6):
    """The answer letter in a model's reply, or None: the first character when it is a letter
    (as OmniZip-style scoring reads "B" or "B. a chord"), else the first standalone A-F in
    "The answer is (C)." Only letters among the first n_choices count."""
    valid = LETTERS[:max(0, min(n_choices, len(LETTERS)))]
    t = str(text).strip()
    if t and t[0].upper() in valid and (len(t) == 1 or not t[1].isalpha()):
        return t[0].upper()
    m = re.search(r"(?<![A-Za-z])([A-F])(?![A-Za-z])", t)
    if m and m.group(1) in valid:
        return m.group(1)
    return None


def accuracy_by_category(rows):
    """{category: fraction right} plus "all", from (category, predicted, answer) rows; a
    prediction of None is wrong."""
    right, total = {}, {}
    for cat, pred, ans in rows:
        for key in (cat, "all"):
            total[key] = total.get(key, 0) + 1
            right[key] = right.get(key, 0) + int(pred is not None and pred == ans)
    return {k: right[k] / total[k] for k in total}
