; Identifiers used as values rather than called: a function whose address is taken
; (passed as an argument, assigned, stored in an initialiser, returned, cast).
; @callee names the call an argument is passed to (EXPORT_SYMBOL(f) names, not uses, f).
(call_expression function: (identifier) @callee
  arguments: (argument_list (identifier) @value))
(call_expression function: (identifier) @callee
  arguments: (argument_list (pointer_expression argument: (identifier) @value)))
(call_expression function: (identifier) @callee
  arguments: (argument_list (cast_expression value: (identifier) @value)))
(call_expression function: (field_expression)
  arguments: (argument_list (identifier) @value))
(assignment_expression right: (identifier) @value)
(assignment_expression right: (pointer_expression argument: (identifier) @value))
(assignment_expression right: (cast_expression value: (identifier) @value))
(init_declarator value: (identifier) @value)
(init_declarator value: (pointer_expression argument: (identifier) @value))
(initializer_list (identifier) @value)
(initializer_list (pointer_expression argument: (identifier) @value))
(initializer_pair value: (identifier) @value)
(initializer_pair value: (pointer_expression argument: (identifier) @value))
(initializer_pair value: (cast_expression value: (identifier) @value))
(return_statement (identifier) @value)
(conditional_expression consequence: (identifier) @value)
(conditional_expression alternative: (identifier) @value)
