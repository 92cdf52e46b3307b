"""Tests of examples/qwen2.5-omni/omni_logic.py: the model-free part of the Qwen2.5-Omni node
(kept-index mapping onto the processor's token sequence, the prompt, the answer letter,
scoring). The model itself is not tested anywhere (no weights, GPU or transformers here)."""
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.environ["SIEVE_SOURCE_DIR"], "examples", "qwen2.5-omni"))
from omni_logic import (LayoutError, accuracy_by_category, keep_mask, kept_from_fused,  # noqa
                        parse_letter, prompt)

V, A, T = 151656, 151646, 9  # video and audio placeholder ids, any text token


def interleaved(chunks):
    """input_ids like the processor's with use_audio_in_video: text, then per 2-s chunk the
    chunk's video tokens and then its audio tokens, then text. chunks: [(n_video, n_audio)]."""
    ids = [T, T, 151652]  # text, <|vision_bos|>
    for nv, na in chunks:
        ids += [V] * nv + [A] * na
    return np.array(ids + [151653, T, T, T])


class KeepMask(unittest.TestCase):
    def test_kept_tokens_map_to_their_positions_across_interleaved_chunks(self):
        # grid t=4 (two temporal groups per chunk), h*w=3: 6 video tokens per chunk, 2 chunks;
        # 50 audio tokens per 2-s chunk.
        ids = interleaved([(6, 50), (6, 50)])
        vpos = np.flatnonzero(ids == V)
        apos = np.flatnonzero(ids == A)
        kept_v, kept_a = [0, 5, 6, 11], [0, 49, 50, 99]
        m = keep_mask(ids, V, A, kept_v, kept_a, n_video=12, n_audio=100)
        # vision token 6 is the first video token of chunk 1, after chunk 0's 50 audio tokens
        self.assertEqual(vpos[6], 3 + 6 + 50)
        self.assertTrue(m[vpos[[0, 5, 6, 11]]].all())
        self.assertEqual(int(m[vpos].sum()), 4)
        self.assertTrue(m[apos[[0, 49, 50, 99]]].all())
        self.assertEqual(int(m[apos].sum()), 4)
        # text and special tokens always stay
        other = (ids != V) & (ids != A)
        self.assertTrue(m[other].all())
        self.assertEqual(int(m.sum()), int(other.sum()) + 8)

    def test_nothing_kept_drops_every_placeholder(self):
        ids = interleaved([(4, 10)])
        m = keep_mask(ids, V, A, [], [])
        self.assertFalse(m[(ids == V) | (ids == A)].any())

    def test_a_count_mismatch_is_a_layout_error(self):
        ids = interleaved([(6, 50)])
        with self.assertRaises(LayoutError):
            keep_mask(ids, V, A, [0], [0], n_video=8)
        with self.assertRaises(LayoutError):
            keep_mask(ids, V, A, [6], [0])

    def test_fused_bundle_gives_sorted_indices_per_modality(self):
        kv, ka, g = kept_from_fused(np.array([0, 1, 0, 1, 0], np.uint8),
                                    np.array([7, 30, 2, 3, 7], np.int32),
                                    np.array([4, 2, 3], np.int32))
        self.assertEqual(kv.tolist(), [2, 7])
        self.assertEqual(ka.tolist(), [3, 30])
        self.assertEqual(g, (4, 2, 3))


class Letters(unittest.TestCase):
    def test_prompt_lists_choices_with_letters_once(self):
        p = prompt("What is heard?", ["A. a tone", "noise", "(C) a chord"])
        self.assertEqual(p.splitlines(), [
            "What is heard?", "A. a tone", "B. noise", "C. a chord",
            "Answer with the option's letter from the given choices directly."])
        with self.assertRaises(ValueError):
            prompt("q", ["only one"])

    def test_parse_letter_reads_the_first_letter_a_to_f(self):
        self.assertEqual(parse_letter("B"), "B")
        self.assertEqual(parse_letter(" c. a chord"), "C")
        self.assertEqual(parse_letter("The answer is (D)."), "D")
        self.assertEqual(parse_letter("F", n_choices=6), "F")
        self.assertIsNone(parse_letter("E", n_choices=4))
        self.assertIsNone(parse_letter("Both sounds"))
        self.assertIsNone(parse_letter(""))

    def test_accuracy_by_category_counts_unparsed_as_wrong(self):
        acc = accuracy_by_category([("Music", "A", "A"), ("Music", None, "B"),
                                    ("Sports", "C", "C")])
        self.assertEqual(acc, {"Music": 0.5, "Sports": 1.0, "all": 2 / 3})


if __name__ == "__main__":
    unittest.main()
