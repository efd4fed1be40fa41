; Calls through a struct member: ops->ndo_start_xmit(skb, dev), INDIRECT_CALL_*(…) aside.
(call_expression
  function: (field_expression field: (field_identifier) @field)
  arguments: (argument_list) @args) @call
