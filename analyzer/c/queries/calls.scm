; Direct calls by name: f(a, b). Calls through pointers are not matched.
(call_expression
  function: (identifier) @callee
  arguments: (argument_list) @args) @call
