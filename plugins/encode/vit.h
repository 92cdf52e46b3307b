/*
 * vit.h - a CLIP or SigLIP vision transformer loaded from HF safetensors weights.
 *
 * The configuration is read from tensor shapes: hidden size d from the patch embedding
 * [d, 3, p, p] (which also gives the patch size p), the image size from the position table
 * ([g*g + 1, d] for CLIP with its CLS token, [g*g, d] for SigLIP; size = g * p), the layer count
 * from the `encoder.layers.{i}` tensors present, the MLP width from fc1. Heads default to d/64
 * (at least 1). The name prefix (`vision_model.`, `vision_tower.vision_model.`, ...) is taken
 * from the patch embedding's name.
 *
 * CLIP (§7.3): conv without bias, CLS token, pre_layrnorm, quick_gelu, eps 1e-5, mean/std
 * of CLIP. SigLIP (§7.4): conv with bias, no CLS, no pre-LN, gelu tanh, eps 1e-6,
 * post_layernorm on the last layer's output, mean = std = 0.5.
 *
 * Each frame is normalised and resized (bilinear, half-pixel centres, no antialias, like
 * torch.nn.functional.interpolate(mode="bilinear", align_corners=False)) to the model's
 * image size. Output: the chosen layer's patch tokens [g*g, d] per frame and their importance
 * (CLIP: attention from CLS at that layer, mean over heads; SigLIP: attention received, mean
 * over heads and queries), with each temporal pair of frames averaged.
 */
#ifndef ENCODE_VIT_H
#define ENCODE_VIT_H

#include <stddef.h>
#include <stdint.h>

#include <sieve/plugin.h>

#include "job.h"

struct vit;

/*
 * Loads weights. `heads` 0 means d/64; `layer` picks the hidden state: k > 0 is the output of
 * layer k, -1 the last (post-normed for SigLIP), -2 the penultimate, ...; 0 means -2.
 * Errors: SIEVE_EBADINPUT naming the file and tensor, SIEVE_EINVAL (bad heads or layer),
 * SIEVE_ENOMEM.
 * Ownership: the caller frees *out with vit_free.
 */
int vit_load(const char *path, int siglip, int64_t heads, int64_t layer, struct vit **out,
             struct sieve_errbuf *err);
void vit_free(struct vit *m);

/* Grid side g (patches per row), hidden size d, and the 1-based layer whose output is used. */
size_t vit_grid(const struct vit *m);
size_t vit_dim(const struct vit *m);
size_t vit_layer(const struct vit *m);

/* Width of the keys vit_run can return: the head dimension d / heads. */
size_t vit_key_dim(const struct vit *m);

/*
 * Encodes frames[T, H, W, 3] into tokens[ceil(T/2), g*g, d] and importance[ceil(T/2), g*g]
 * (preallocated). When `keys` is not NULL it also gets [ceil(T/2), g*g, vit_key_dim] : the
 * attention keys of the chosen layer's own attention (the one that gives the importance),
 * mean over heads, each temporal pair averaged like the tokens: the metric VisionZip measures
 * contextual similarity on. Errors: SIEVE_ENOMEM.
 */
int vit_run(const struct vit *m, const uint8_t *frames, size_t T, size_t H, size_t W, float *tokens,
            float *importance, float *keys, const struct job *job, struct sieve_errbuf *err);

#endif /* ENCODE_VIT_H */
