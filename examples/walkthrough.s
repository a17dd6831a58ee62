# The walk-through's function, and a little more: rustyjit assembles it the way GNU as does.
# Try: cargo run --release -- asm examples/walkthrough.s [--format hex|json]
    mov rax, 0x3            # the walk-through's first instruction: 48 c7 c0 03 00 00 00
    ret

# sum of 1..=rdi, a loop with a label
sum_to:
    xor eax, eax
    test rdi, rdi
    jz done
again:
    add rax, rdi
    dec rdi
    jnz again
done:
    ret
