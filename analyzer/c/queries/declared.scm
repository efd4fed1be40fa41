; Names declared as variables (locals, globals, parameters), to tell them from functions
; used as values (values.scm).
(init_declarator declarator: (identifier) @name)
(init_declarator declarator: (pointer_declarator declarator: (identifier) @name))
(init_declarator declarator: (array_declarator declarator: (identifier) @name))
(declaration declarator: (identifier) @name)
(declaration declarator: (pointer_declarator declarator: (identifier) @name))
(declaration declarator: (array_declarator declarator: (identifier) @name))
(parameter_declaration declarator: (identifier) @name)
(parameter_declaration declarator: (pointer_declarator declarator: (identifier) @name))
