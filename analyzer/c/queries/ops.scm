; Designated initialisers that store a function: .ndo_start_xmit = f, .handler = &f
(initializer_pair
  designator: (field_designator (field_identifier) @field)
  value: [
    (identifier) @value
    (pointer_expression argument: (identifier) @value)
  ]) @pair
