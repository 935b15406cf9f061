;; SIMD scan for the JSON string hot loop (json-scan.ts, plain-scan.ts).
;;
;; skip(pos, end) returns the index of the first byte in memory[pos, end) that is
;; not "plain" inside a JSON string - '"', '\' or a control character below 0x20 -
;; or `end` if every byte is plain. The caller copies the message to memory[0..]
;; first; the module has no other state.
;;
;; Built into plain-scan.wasm.ts by `npm run build:wasm` (scripts/build-wasm.mjs);
;; a test checks the committed bytes match this source.
(module
  ;; 5 pages (320 KiB) hold the default 256 KiB message limit; plain-scan.ts grows
  ;; it for larger limits.
  (memory (export "memory") 5)

  ;; The "not plain" test - (v < 0x20) | (v == '"') | (v == '\') per lane - is written
  ;; out at each use: V8 in Node 20 does not inline wasm calls, and a helper function
  ;; made the loop three times slower.
  (func (export "skip") (param $pos i32) (param $end i32) (result i32)
    (local $v v128)
    (local $a v128)
    (local $b v128)
    (local $c i32)
    ;; 32 bytes per step while both vectors are wholly before `end`.
    (block $pairs_done
      (loop $pairs
        (br_if $pairs_done (i32.gt_u (i32.add (local.get $pos) (i32.const 32)) (local.get $end)))
        (local.set $v (v128.load (local.get $pos)))
        (local.set $a (v128.or
            (v128.or
              (i8x16.lt_u (local.get $v) (v128.const i8x16 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32))
              (i8x16.eq (local.get $v) (v128.const i8x16 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34)))
            (i8x16.eq (local.get $v) (v128.const i8x16 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92))))
        (local.set $v (v128.load offset=16 (local.get $pos)))
        (local.set $b (v128.or
            (v128.or
              (i8x16.lt_u (local.get $v) (v128.const i8x16 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32))
              (i8x16.eq (local.get $v) (v128.const i8x16 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34)))
            (i8x16.eq (local.get $v) (v128.const i8x16 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92))))
        (if (v128.any_true (v128.or (local.get $a) (local.get $b)))
          (then
            (if (v128.any_true (local.get $a))
              (then (return (i32.add (local.get $pos) (i32.ctz (i8x16.bitmask (local.get $a)))))))
            (return (i32.add (i32.add (local.get $pos) (i32.const 16))
                             (i32.ctz (i8x16.bitmask (local.get $b)))))))
        (local.set $pos (i32.add (local.get $pos) (i32.const 32)))
        (br $pairs)))
    ;; One more vector if 16 bytes remain.
    (if (i32.le_u (i32.add (local.get $pos) (i32.const 16)) (local.get $end))
      (then
        (local.set $v (v128.load (local.get $pos)))
        (local.set $a (v128.or
            (v128.or
              (i8x16.lt_u (local.get $v) (v128.const i8x16 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32))
              (i8x16.eq (local.get $v) (v128.const i8x16 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34)))
            (i8x16.eq (local.get $v) (v128.const i8x16 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92))))
        (if (v128.any_true (local.get $a))
          (then (return (i32.add (local.get $pos) (i32.ctz (i8x16.bitmask (local.get $a)))))))
        (local.set $pos (i32.add (local.get $pos) (i32.const 16)))))
    ;; Fewer than 16 bytes: one at a time.
    (block $done
      (loop $bytes
        (br_if $done (i32.ge_u (local.get $pos) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $pos)))
        (br_if $done (i32.lt_u (local.get $c) (i32.const 32)))
        (br_if $done (i32.eq (local.get $c) (i32.const 34)))
        (br_if $done (i32.eq (local.get $c) (i32.const 92)))
        (local.set $pos (i32.add (local.get $pos) (i32.const 1)))
        (br $bytes)))
    (local.get $pos))
)
