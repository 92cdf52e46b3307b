"""qwen_omni_node.py - Qwen2.5-Omni answers WorldSense-style questions from the tokens a sieve
method kept. A Python node for a GPU slot: NOT RUN IN CI (no weights, no GPU, no PyPI there);
see README.md for what is and is not tested.

Per task: the clip (the manifest row's `media`) and its question go through
Qwen2_5OmniProcessor with the audio of the video interleaved (TMRoPE, 2-second chunks); the
positions of the video and audio placeholders sieve did not keep are dropped before the
thinker's language model sees them (their TMRoPE positions are computed on the full sequence
first, so the kept tokens keep their places in time); the thinker generates a few tokens; the
first letter A-F is the answer. The model loads once per slot (`load`), not once per task.
"""
import numpy as np
import torch
from qwen_omni_utils import process_mm_info
from transformers import Qwen2_5OmniForConditionalGeneration, Qwen2_5OmniProcessor

from omni_logic import LayoutError, kept_from_fused, keep_mask, parse_letter, prompt
from sieve_node import BadInput, Bundle

SIEVE = {
    "version": "0.1.0",
    "summary": "Qwen2.5-Omni answers the row's multiple-choice question from the kept tokens",
    "class": "QwenOmniAnswerer",
    "inputs": {"kept": "fuse-bidirectional output: modality, full_index, grid"},
    "outputs": {"out": "metadata answer (A-F or empty), reply; tensor kept_positions"},
    "params": {
        "model": {"type": "string", "default": "Qwen/Qwen2.5-Omni-7B",
                  "doc": "weights: a local directory or a hub id already in the cache"},
        "dtype": {"type": "enum", "choices": ["bfloat16", "float16", "float32"],
                  "default": "bfloat16", "doc": "weights' dtype on the GPU"},
        "fps": {"type": "float", "default": 2.0, "min": 0.1, "max": 30,
                "doc": "video frames per second: must equal decode's fps"},
        "max_pixels": {"type": "int", "default": 151200, "min": 3136,
                       "doc": "per-frame pixel budget: must match decode's resize"},
        "max_new_tokens": {"type": "int", "default": 8, "min": 1, "max": 512,
                           "doc": "tokens generated; the first letter is the answer"},
        "prune": {"type": "bool", "default": True,
                  "doc": "drop what sieve dropped (false: the full-token reference)"},
    },
    "row_fields": ["question", "choices"],
    "device": True,
    "deterministic": True,
}

SYSTEM = ("You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of "
          "perceiving auditory and visual inputs, as well as generating text and speech.")


class QwenOmniAnswerer:
    def load(self, params, device):
        self.p = params
        dtype = getattr(torch, params["dtype"])
        self.processor = Qwen2_5OmniProcessor.from_pretrained(params["model"])
        self.model = Qwen2_5OmniForConditionalGeneration.from_pretrained(
            params["model"], torch_dtype=dtype, device_map=device).eval()
        self.model.disable_talker()
        self.device = device
        cfg = self.model.config.thinker_config
        self.video_id, self.audio_id = cfg.video_token_index, cfg.audio_token_index
        self.mask = None
        self.model.thinker.model.register_forward_pre_hook(self._drop, with_kwargs=True)

    def _drop(self, module, args, kwargs):
        """Prefill: keep the rows of the mask (embeddings, TMRoPE positions, attention mask);
        decoding steps: an attention mask and cache positions as long as the pruned cache."""
        if self.mask is None:
            return args, kwargs
        emb = kwargs.get("inputs_embeds")
        if emb is not None and emb.shape[1] == self.mask.numel():
            keep = self.mask.to(emb.device)
            kwargs["inputs_embeds"] = emb[:, keep]
            if kwargs.get("position_ids") is not None:
                kwargs["position_ids"] = kwargs["position_ids"][..., keep]
            if kwargs.get("attention_mask") is not None:
                kwargs["attention_mask"] = kwargs["attention_mask"][:, keep]
            n = int(keep.sum())
            kwargs["cache_position"] = torch.arange(n, device=emb.device)
            self.dropped = self.mask.numel() - n
        elif emb is not None and kwargs.get("attention_mask") is not None:
            am = kwargs["attention_mask"]
            kwargs["attention_mask"] = am[:, self.dropped:]
            if kwargs.get("cache_position") is not None:
                kwargs["cache_position"] = kwargs["cache_position"] - self.dropped
        return args, kwargs

    def run(self, inputs, ctx):
        row = ctx.sample
        choices = row.get("choices")
        if not isinstance(choices, list) or not row.get("question"):
            raise BadInput("row '%s' needs 'question' and a list 'choices'" % row.get("id"))
        kept = inputs["kept"]
        kv, ka, (t, h, w) = kept_from_fused(kept["modality"], kept["full_index"], kept["grid"])
        conversation = [
            {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {"role": "user", "content": [
                {"type": "video", "video": row["media"], "fps": self.p["fps"],
                 "max_pixels": self.p["max_pixels"]},
                {"type": "text", "text": prompt(row["question"], choices)}]},
        ]
        text = self.processor.apply_chat_template(conversation, add_generation_prompt=True,
                                                  tokenize=False)
        audios, images, videos = process_mm_info(conversation, use_audio_in_video=True)
        batch = self.processor(text=text, audio=audios, images=images, videos=videos,
                               return_tensors="pt", padding=True, use_audio_in_video=True)
        batch = batch.to(self.model.device).to(self.model.dtype)
        ids = batch["input_ids"][0].cpu().numpy()
        try:
            mask = keep_mask(ids, self.video_id, self.audio_id, kv, ka, n_video=t * h * w)
        except LayoutError as e:
            raise BadInput(str(e))
        ctx.progress(0.3)
        self.mask = torch.from_numpy(mask) if self.p["prune"] else None
        try:
            with torch.inference_mode():
                out = self.model.generate(**batch, use_audio_in_video=True, return_audio=False,
                                          thinker_max_new_tokens=self.p["max_new_tokens"],
                                          do_sample=False)
        finally:
            self.mask = None
        reply = self.processor.batch_decode(out[:, batch["input_ids"].shape[1]:],
                                            skip_special_tokens=True)[0]
        letter = parse_letter(reply, len(choices)) or ""
        return Bundle({"kept_positions": np.flatnonzero(mask).astype(np.int64)},
                      {"answer": letter, "reply": reply.strip()[:500]})
